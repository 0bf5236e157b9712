"""Packet evidence, checked: a case's pcap (its packets, to or from its ports, from its
worker's capture of its namespace) must agree with what the case says it observed.

  packets(path)          -> [Packet] decoded from a pcap file (Ethernet, Linux cooked
                            SLL / SLL2, BSD loopback; IPv4 and IPv6; TCP and UDP)
  kept(results, cases)   -> (folder, None): the folder a results file's evidence paths are
                            relative to; or (None, why) when there is no evidence to check:
                            results read from a stream, or copied without their folder
  unchecked_note(why, cases) -> the line that says so
  assess(case, dir)      -> (None | "unusable" | "disagrees", [text]): whether the capture
                            could be read, and where it contradicts the observation
  problems(case, dir)    -> [text]: assess's texts alone
  summary(case, dir, n)  -> the first n packets as short lines, for the report

What is checked, where a case has evidence:
  - a deliver step that reports datagrams received: UDP datagrams to that port were on the
    wire, at least as many as the receiver that got the most;
  - a connect() refused with ECONNREFUSED: a TCP RST came from the port it connected to,
    to a peer it never answered with a SYN-ACK;
  - a socket put in TIME_WAIT: the first FIN of its connection came from its own port (the
    active close was on the side the state says).
A disagreement makes the case an error naming both sides, and so does a capture that cannot
be read as packets (missing from its folder, not a plain file, cut short) (judge.py).
"""

import os
import socket
import struct
from dataclasses import dataclass

from . import readfile

LINKTYPES = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4}   # link type -> link header length
TCP, UDP = 6, 17
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


class EvidenceError(Exception):
    pass


@dataclass
class Packet:
    time: float
    proto: int
    src: str
    sport: int
    dst: str
    dport: int
    flags: int = 0              # TCP flags
    length: int = 0             # payload bytes

    def line(self):
        if self.proto == TCP:
            names = "".join(n for bit, n in ((SYN, "S"), (FIN, "F"), (RST, "R"), (ACK, "."))
                            if self.flags & bit)
            return "%s.%d > %s.%d TCP [%s] len %d" % (self.src, self.sport, self.dst,
                                                       self.dport, names, self.length)
        return "%s.%d > %s.%d UDP len %d" % (self.src, self.sport, self.dst, self.dport,
                                             self.length)


def _ip(data, off):
    """(proto, src, dst, transport offset) of the IP packet at off, or None."""
    if len(data) < off + 1:
        return None
    version = data[off] >> 4
    if version == 4 and len(data) >= off + 20:
        ihl = (data[off] & 0x0F) * 4
        src = socket.inet_ntop(socket.AF_INET, data[off + 12:off + 16])
        dst = socket.inet_ntop(socket.AF_INET, data[off + 16:off + 20])
        return data[off + 9], src, dst, off + ihl
    if version == 6 and len(data) >= off + 40:
        return data[off + 6], socket.inet_ntop(socket.AF_INET6, data[off + 8:off + 24]), \
            socket.inet_ntop(socket.AF_INET6, data[off + 24:off + 40]), \
            off + 40     # extension headers do not occur in these captures
    return None


_decoded = {}


def packets(path):
    """The file's packets, decoded once per process while the file stays the same (the
    judge and the report's detail both read them; copies of a run share their pcaps)."""
    key = readfile.file_key(path)
    if key is not None and key in _decoded:
        return list(_decoded[key])
    out = _packets(path)
    if key is not None:
        _decoded[key] = tuple(out)
    return out


# A case's capture is small: a deliver step sends at most 1000 datagrams (cases/README.md),
# a handshake a dozen packets.  Far past both, and bounded in memory whatever a file holds.
MAX_BYTES = 64 << 20
MAX_PACKETS = 100000


def _packets(path):
    # a results file names its evidence: only a plain file there is read (readfile.read)
    try:
        data = readfile.read(path, MAX_BYTES, "pcap file")
    except readfile.Unreadable as e:
        raise EvidenceError("%s: %s" % (path, e)) from None
    if len(data) < 24:
        raise EvidenceError("%s: not a pcap file (too short)" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end, nano = "<", magic[0] == 0x4d
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end, nano = ">", magic[3] == 0x4d
    else:
        # the file's own bytes are not repeated: the report shows this text
        raise EvidenceError("%s: not a pcap file (it does not start as one)" % path)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype not in LINKTYPES:
        raise EvidenceError("%s: link type %d is not one bindmatrix reads" % (path, linktype))
    link = LINKTYPES[linktype]
    snaplen = struct.unpack(end + "I", data[16:20])[0]
    out, off = [], 24
    while off < len(data):
        if len(out) == MAX_PACKETS:         # tiny records would otherwise fill the memory
            raise EvidenceError("%s: more than %d packets: not one case's capture"
                                % (path, MAX_PACKETS))
        # a record cut short, or one longer than the file's snapshot length, is not a
        # packet: a half-written file, or another file's bytes after this one's
        if off + 16 > len(data):
            raise EvidenceError("%s: %d stray bytes after the last packet (at byte %d)"
                                % (path, len(data) - off, off))
        sec, frac, caplen, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        if caplen > max(snaplen, 65535) or off + 16 + caplen > len(data):
            raise EvidenceError("%s: the record at byte %d is cut short or garbled (%d bytes "
                                "captured, %d left in the file)"
                                % (path, off, caplen, len(data) - off - 16))
        pkt = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ip = _ip(pkt, link)
        if ip is None:
            continue
        proto, src, dst, t = ip
        if proto not in (TCP, UDP) or len(pkt) < t + 8:
            continue
        sport, dport = struct.unpack(">HH", pkt[t:t + 4])
        p = Packet(sec + frac / (1e9 if nano else 1e6), proto, src, sport, dst, dport)
        if proto == TCP and len(pkt) >= t + 20:
            p.flags = pkt[t + 13]
            p.length = len(pkt) - t - (pkt[t + 12] >> 4) * 4
        elif proto == UDP:
            p.length = len(pkt) - t - 8
        out.append(p)
    return out


def capture_of(case, results_dir):
    """The path of the case's pcap, or None (also when results_dir is: no folder)."""
    if results_dir is None:
        return None
    for ev in case.get("evidence") or []:
        if ev.get("kind") == "pcap":
            return os.path.normpath(os.path.join(results_dir, ev["path"]))
    return None


def kept(results_path, cases):
    """Where the packet evidence of a results file is: (folder, None), the folder its cases'
    evidence paths are relative to; or (None, why) when it has none to check, said once for
    the whole file rather than as an error in each case:
      - the results are read from a stream (/dev/stdin, <(ssh host cat ...), a FIFO): no
        folder of theirs holds the evidence, and the one the stream's name is in (/dev) is
        not it;
      - not one of the evidence folders the cases name is beside the file: it was copied or
        downloaded without them.
    A folder that is there but lacks a case's file is that case's error (assess)."""
    from .atomic import is_stream
    named = sorted({os.path.dirname(ev.get("path") or "") for case in cases
                    for ev in case.get("evidence") or [] if ev.get("kind") == "pcap"})
    if is_stream(results_path) or not os.path.isfile(results_path):
        return None, "the results came from a stream, not a file" if named else None
    folder = os.path.dirname(os.path.abspath(results_path))
    if named and not any(os.path.isdir(os.path.join(folder, d)) for d in named):
        return None, ("the results' evidence folder %s is missing (copied without it?)"
                      % " or ".join(os.path.join(folder, d) for d in named[:2]))
    return folder, None


def unchecked_note(why, cases):
    """What a command says once when kept() found no evidence to check."""
    n = sum(1 for case in cases if case.get("evidence"))
    return "%s: the packet evidence of its %d %s is not checked" % (
        why, n, "case that names some" if n == 1 else "cases that name some")


def problems(case, results_dir):
    """Where the case's capture cannot be read or contradicts its observation ([] when it
    agrees or the case has no capture)."""
    return assess(case, results_dir)[1]


def assess(case, results_dir):
    """(None, []) when the case's capture agrees with its observation or it has none;
    ("unusable", [why]) when the capture cannot be read as packets; ("disagrees", [where
    they part]) otherwise."""
    path = capture_of(case, results_dir)
    if path is None or case.get("status") != "observed":
        return None, []
    try:
        pkts = packets(path)
    except EvidenceError as e:
        return "unusable", [str(e)]
    out = _disagreements(case, pkts)
    return ("disagrees" if out else None), out


def _disagreements(case, pkts):
    out = []
    for step in case.get("steps") or []:
        port = step.get("port")
        delivery = step.get("delivery") or (case.get("delivery") or {}).get(step["label"])
        if step["op"] == "deliver" and delivery and step["result"] == "ok" and port:
            most = max(delivery["received"].values() or [0])
            wire = sum(1 for p in pkts if p.proto == UDP and p.dport == port)
            if most and wire < most and not _tcp_deliver(pkts, port):
                out.append("%s: the case says a receiver got %d datagrams on port %d, the "
                           "capture has %d to that port" % (step["label"], most, port, wire))
        if step["op"] == "connect" and step["result"] == "ECONNREFUSED" and port:
            if not _refusal_from(pkts, port):
                out.append("%s: the case says the connect to port %d was refused, the capture "
                           "has no RST from it" % (step["label"], port))
        if step["op"] == "state" and str(step.get("state", "")).startswith("time-wait") \
                and step["result"] == "ok" and port:
            fins = [p for p in pkts if p.proto == TCP and p.flags & FIN
                    and port in (p.sport, p.dport)]
            if not fins:
                out.append("%s: the case says port %d went through TIME_WAIT, the capture has "
                           "no FIN on it" % (step["label"], port))
            elif fins[0].sport != port:
                out.append("%s: the case says port %d closed first (%s), the capture's first "
                           "FIN came from port %d" % (step["label"], port, step["state"],
                                                      fins[0].sport))
    return out


def _refusal_from(pkts, port):
    """An RST from port that refused a connection: to a peer port it never sent a SYN-ACK
    (an RST after a handshake ends a connection, as a delivery probe's do)."""
    accepted = {p.dport for p in pkts
                if p.proto == TCP and p.flags & SYN and p.flags & ACK and p.sport == port}
    return any(p.proto == TCP and p.flags & RST and p.sport == port and p.dport not in accepted
               for p in pkts)


def _tcp_deliver(pkts, port):
    return any(p.proto == TCP and p.flags & SYN and p.dport == port for p in pkts)


def summary(case, results_dir, n=12):
    path = capture_of(case, results_dir)
    if path is None:
        return []
    try:
        pkts = packets(path)
    except EvidenceError as e:
        return [str(e)]
    if not pkts:
        return ["(no packets)"]
    t0 = pkts[0].time
    lines = ["%+.6f %s" % (p.time - t0, p.line()) for p in pkts[:n]]
    if len(pkts) > n:
        lines.append("... %d more packets" % (len(pkts) - n))
    return lines
