"""Packet evidence, checked: this host's real captures agree with what the cases say, and an
observation flipped in a results file is caught as an error naming both sides."""

import json
import os
import re
import shutil
import subprocess

import pytest

from bindmatrix import evidence, judge
from bindmatrix.report import cli as report_cli
from fixturekit import AS_USER, user_writable_copy
from reportkit import CASES, RUNNER, read_records, write_records


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evidence")
    out = str(tmp / "r.jsonl")
    subprocess.run([RUNNER, "-q", "--capture", "-o", out, "-f", "tcp/rebind-time-wait",
                    "-f", "udp/unicast-reuseaddr", "-f", "udp/multicast-group", CASES],
                   check=True)
    return tmp, out


def with_evidence(path):
    return [c for c in read_records(path)[1:-1] if c.get("evidence")]


def test_real_captures_agree(captured):
    tmp, out = captured
    cases = with_evidence(out)
    assert len(cases) >= 20
    for c in cases:
        assert evidence.problems(c, str(tmp)) == [], c["id"]
    lines = evidence.summary(next(c for c in cases if "rebind-time-wait" in c["id"]), str(tmp))
    assert any("TCP [F.]" in l for l in lines) and any("TCP [S]" in l for l in lines)


# tcpdump -nn -r: "IP 127.0.0.1.12361 > 127.0.0.1.60639: Flags [S.], ..." or "... : UDP, ..."
TCPDUMP_LINE = re.compile(r"^\S+ IP6? (\S+)\.(\d+) > (\S+)\.(\d+): (?:Flags \[([^\]]*)\]|(UDP))")


def test_tcpdump_reads_the_captures_as_the_harness_does(captured):
    """The captures are libpcap's own format, and a second reader (tcpdump, not our decoder)
    sees the same packets: endpoints, protocol and TCP flags, in order."""
    if shutil.which("tcpdump") is None:
        pytest.fail("tcpdump is missing: apt-get install tcpdump (./bindmatrix test does)")
    tmp, out = captured
    seen = 0
    for c in with_evidence(out):
        path = os.path.join(str(tmp), c["evidence"][0]["path"])
        text = subprocess.run(["tcpdump", "-nn", "-r", path], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True,
                              check=True).stdout
        theirs = []
        for line in text.splitlines():
            m = TCPDUMP_LINE.match(line)
            assert m, "tcpdump printed a line the test cannot read: %r" % line
            src, sport, dst, dport, flags, udp = m.groups()
            theirs.append((src, int(sport), dst, int(dport),
                           "UDP" if udp else "".join(sorted(set(flags) & set("SFR.")))))
        ours = [(p.src, p.sport, p.dst, p.dport,
                 "UDP" if p.proto == evidence.UDP else
                 "".join(sorted(set(p.line().split("[")[1].split("]")[0])))) for p in evidence.packets(path)]
        assert ours == theirs, c["id"]
        seen += len(ours)
    assert seen > 100


def test_a_user_without_privilege_gets_evidence_too():
    """In a user namespace of its own (a runner started by an ordinary user) each worker
    still records its namespace: tcpdump never could there (its change of user is denied).
    The folder's spare pcaps are root's, from two runs before: the user's run writes its
    own in their place."""
    with user_writable_copy("tcp/rebind-time-wait") as (tmp, runner, cases):
        out = os.path.join(tmp, "r.jsonl")
        for _ in range(2):
            subprocess.run([runner, "-q", "--capture", "-o", out, cases], check=True)
        for name in ("r.evidence", "r.evidence.spare"):
            os.chmod(os.path.join(tmp, name), 0o777)
        for name in ("r.jsonl", "r.jsonl.lock"):
            os.unlink(os.path.join(tmp, name))
        proc = subprocess.run(AS_USER + [runner, "-q", "--capture", "-o", out, cases],
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert proc.returncode == 0, proc.stderr + (
            "(an ordinary user gets no user namespace here, so no runner can run as one: a "
            "chroot refuses it, unshare(2) EPERM, as does user.max_user_namespaces=0)"
            if "CLONE_NEWUSER" in proc.stderr else "")
        cases = with_evidence(out)
        assert len(cases) == 16, proc.stderr
        for c in cases:
            assert evidence.problems(c, tmp) == [], c["id"]
            assert os.stat(os.path.join(tmp, c["evidence"][0]["path"])).st_uid == 65534


def flipped(tmp, out, edit):
    records = read_records(out)
    cid = None
    for r in records[1:-1]:
        if r.get("evidence") and edit(r):
            cid = r["id"]
            break
    assert cid, "no case to flip"
    path = str(tmp / ("flipped-%s.jsonl" % edit.__name__))
    write_records(path, records)
    return path, cid


def test_a_delivery_the_wire_never_carried_is_caught(captured):
    tmp, out = captured

    def more_datagrams(r):
        for s in r["steps"]:
            if s["op"] == "deliver" and s.get("delivery"):
                recv = s["delivery"]["received"]
                first = sorted(recv)[0]
                recv[first] = s["delivery"]["sent"] * 10
                for d in (r.get("delivery") or {}).values():
                    d["received"][first] = recv[first]
                return True
        return False
    path, cid = flipped(tmp, out, more_datagrams)
    case = next(c for c in read_records(path)[1:-1] if c["id"] == cid)
    found = evidence.problems(case, str(tmp))
    assert found and "the capture has" in found[0]
    j = judge.judge(case, [], {"os": "linux"}, evidence_dir=str(tmp))
    assert j.verdict == "error" and "packet evidence disagrees" in j.note


def test_a_time_wait_on_the_wrong_side_is_caught(captured):
    tmp, out = captured

    def other_side(r):
        st = next((s for s in r["steps"] if s["op"] == "state"
                   and s.get("state", "").startswith("time-wait")), None)
        if st is None:
            return False
        st["port"] = 1               # a port that never sent the first FIN
        return True
    path, cid = flipped(tmp, out, other_side)
    case = next(c for c in read_records(path)[1:-1] if c["id"] == cid)
    found = evidence.problems(case, str(tmp))
    assert found and ("no FIN" in found[0] or "first FIN came from" in found[0])


@pytest.mark.parametrize("tail, said", [
    (b"\x01\x02\x03", "3 stray bytes after the last packet"),
    (b"\x00" * 8 + b"\xff\xff\xff\xff" + b"\x00" * 4, "is cut short or garbled"),
    (b"\x00" * 8 + b"\x40\x00\x00\x00" + b"\x40\x00\x00\x00" + b"\x00" * 10,
     "is cut short or garbled"),
])
def test_a_pcap_with_bytes_that_are_not_whole_packets_is_an_error(captured, tmp_path, tail,
                                                                  said):
    """A half-written pcap, or one with another file's bytes after its own, is no evidence:
    the case becomes an error saying where, not a case judged on the packets before."""
    tmp, out = captured
    case = next(c for c in with_evidence(out) if "rebind-time-wait" in c["id"])
    src = os.path.join(str(tmp), case["evidence"][0]["path"])
    os.makedirs(str(tmp_path / os.path.dirname(case["evidence"][0]["path"])))
    with open(src, "rb") as f, open(str(tmp_path / case["evidence"][0]["path"]), "wb") as g:
        g.write(f.read() + tail)
    found = evidence.problems(case, str(tmp_path))
    assert len(found) == 1 and said in found[0], found
    j = judge.judge(case, [], {"os": "linux"}, evidence_dir=str(tmp_path))
    assert j.verdict == "error" and said in j.note


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_evidence_that_is_not_a_plain_file_is_an_error_not_a_hang(captured, tmp_path, kind):
    """A results file names its evidence: a FIFO there (which a plain open would wait on for
    ever), a device or a folder is refused by name, and the case becomes an error."""
    tmp, out = captured
    case = json.loads(json.dumps(next(c for c in with_evidence(out)
                                      if "rebind-time-wait" in c["id"])))
    target = tmp_path / "not-a-pcap"
    if kind == "fifo":
        os.mkfifo(str(target))
    elif kind == "folder":
        target.mkdir()
    else:
        target = "/dev/zero"
    case["evidence"][0]["path"] = os.path.relpath(str(target), str(tmp_path))
    found = evidence.problems(case, str(tmp_path))
    assert len(found) == 1 and "not a regular file" in found[0], found
    assert evidence.summary(case, str(tmp_path)) == found
    j = judge.judge(case, [], {"os": "linux"}, evidence_dir=str(tmp_path))
    assert j.verdict == "error" and found[0] in j.note


def test_the_report_shows_the_decoded_packets(captured, tmp_path):
    tmp, out = captured
    rep = tmp_path / "rep"
    assert report_cli.main([out, "-o", str(rep), "--claims", "none", "--no-documented"]) \
        in (0, 1)
    html = (rep / "report.html").read_text()
    data = json.loads(html.split('id="bm-data">', 1)[1].split("</script>", 1)[0])
    packets = [c.get("pk") for r in data["rows"] for c in r["cells"] if c.get("pk")]
    assert packets and any("TCP [S]" in line for pk in packets for line in pk)


def test_a_run_rewrites_the_spare_folders_pcaps_and_keeps_only_its_own(tmp_path):
    """A complete run keeps its predecessor's evidence as <stem>.evidence.spare, and the next
    run writes its pcaps over those files (same inodes: no file is created, which is what
    capture cost most) instead of making new ones.  What it reuses is cut to its new length,
    and a pcap no line of the run names is not in its evidence."""
    out = str(tmp_path / "r.jsonl")
    argv = [RUNNER, "-q", "--capture", "-o", out, "-f", "tcp/rebind-time-wait", CASES]
    subprocess.run(argv, check=True)
    first = {f: os.stat(str(tmp_path / "r.evidence" / f)).st_ino
             for f in os.listdir(str(tmp_path / "r.evidence"))}
    assert len(first) >= 8 and not (tmp_path / "r.evidence.spare").exists()
    subprocess.run(argv, check=True)
    spare = tmp_path / "r.evidence.spare"
    assert sorted(os.listdir(str(spare))) == sorted(first)      # the run before's, kept
    # the spare's files as a longer run or a removed scenario would leave them
    padded = sorted(first)[0]
    with open(str(spare / padded), "ab") as f:
        f.write(b"\xff" * 4096)
    (spare / "gone_scenario.pcap").write_bytes(b"\xd4\xc3\xb2\xa1 stale")
    reused = {f: os.stat(str(spare / f)).st_ino for f in os.listdir(str(spare))}
    subprocess.run(argv, check=True)
    evidence_dir = tmp_path / "r.evidence"
    assert sorted(os.listdir(str(evidence_dir))) == sorted(first)
    assert {f: os.stat(str(evidence_dir / f)).st_ino for f in first} == \
        {f: reused[f] for f in first}
    named = sorted(os.path.basename(e["path"]) for c in with_evidence(out) for e in c["evidence"])
    assert named == sorted(first)
    for c in with_evidence(out):
        assert evidence.problems(c, str(tmp_path)) == [], c["id"]     # every byte is packets
    assert not (tmp_path / "r.evidence.part").exists()


def test_evidence_folders_that_are_symlinks_or_files_are_never_followed(tmp_path):
    """The runner removes pcaps only in folders of its own: a <stem>.evidence or .spare that
    is a symlink to someone's folder keeps that folder's pcaps, a .spare that is a file is
    left alone, and a .part that is not a folder is refused by name."""
    theirs, others = tmp_path / "theirs", tmp_path / "others"
    for d in (theirs, others):
        d.mkdir()
        (d / "keep.pcap").write_bytes(b"theirs")
    os.symlink("theirs", str(tmp_path / "r.evidence"))
    os.symlink("others", str(tmp_path / "r.evidence.spare"))
    argv = [RUNNER, "-q", "--capture", "-f", "udp/unicast-reuseaddr", CASES]
    for _ in range(3):
        subprocess.run(argv[:3] + ["-o", str(tmp_path / "r.jsonl")] + argv[3:], check=True)
    assert (theirs / "keep.pcap").read_bytes() == b"theirs" and os.listdir(str(theirs)) == ["keep.pcap"]
    assert (others / "keep.pcap").read_bytes() == b"theirs" and os.listdir(str(others)) == ["keep.pcap"]
    assert with_evidence(str(tmp_path / "r.jsonl"))
    (tmp_path / "f.evidence.spare").write_text("a file")
    subprocess.run(argv[:3] + ["-o", str(tmp_path / "f.jsonl")] + argv[3:], check=True)
    assert (tmp_path / "f.evidence.spare").read_text() == "a file"
    (tmp_path / "p.evidence.part").write_text("a file")
    proc = subprocess.run(argv[:3] + ["-o", str(tmp_path / "p.jsonl")] + argv[3:],
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode != 0 and "p.evidence.part: Not a directory" in proc.stderr
    assert not (tmp_path / "p.jsonl").exists()


REFUSED_CASE = """\
title: a connect to a port that is bound but not listening is refused
ref: harness/tests/test_evidence.py
capture: true
matrix: {family: [ipv4, ipv6]}
sockets: {a: {proto: tcp, family: $family}, b: {proto: tcp, family: $family}}
steps:
  - {op: bind, socket: a, addr: loopback, port: P1}
  - {op: connect, socket: b, addr: loopback, port: P1}
"""


def test_a_refused_connect_shows_its_rst_and_one_without_is_caught(tmp_path):
    """A connect() refused by the kernel has the RST from the refusing port in its capture;
    the same case claiming a refusal from a port that sent none is an error naming both
    sides (no case of the matrix is refused today, so the check is held to real packets
    here)."""
    from fixturekit import scenario_tree
    cases = scenario_tree(tmp_path, {"tcp/refused": REFUSED_CASE})
    out = str(tmp_path / "r.jsonl")
    subprocess.run([RUNNER, "-q", "--capture", "-o", out, cases], check=True)
    refused = with_evidence(out)
    assert len(refused) == 2
    for c in refused:
        connect = next(s for s in c["steps"] if s["op"] == "connect")
        assert connect["result"] == "ECONNREFUSED", c
        assert evidence.problems(c, str(tmp_path)) == [], c["id"]
        assert any("TCP [R" in line for line in evidence.summary(c, str(tmp_path)))

    def elsewhere(r):
        step = next(s for s in r["steps"] if s["op"] == "connect")
        step["port"] = 9                # discard: nothing there sent this case an RST
        return True
    path, cid = flipped(tmp_path, out, elsewhere)
    case = next(c for c in read_records(path)[1:-1] if c["id"] == cid)
    found = evidence.problems(case, str(tmp_path))
    assert found == ["b.connect: the case says the connect to port 9 was refused, the "
                     "capture has no RST from it"], found
    j = judge.judge(case, [], {"os": "linux"}, evidence_dir=str(tmp_path))
    assert j.verdict == "error" and "packet evidence disagrees" in j.note


DELIVERED_CASE = """\
title: connections to a listener, each ended by the probe with a reset
ref: harness/tests/test_evidence.py
capture: true
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: deliver, addr: loopback, port: P1, count: 4, receivers: [a]}
"""


def test_the_reset_that_ends_an_accepted_connection_is_no_refusal(tmp_path):
    """A TCP delivery ends each accepted connection with an RST from the listener's port; a
    case claiming a refused connect to that port is still caught: a refusal is an RST to a
    peer the port never sent a SYN-ACK."""
    from fixturekit import scenario_tree
    cases = scenario_tree(tmp_path, {"tcp/delivered": DELIVERED_CASE})
    out = str(tmp_path / "r.jsonl")
    subprocess.run([RUNNER, "-q", "--capture", "-o", out, cases], check=True)
    (case,) = with_evidence(out)
    assert evidence.problems(case, str(tmp_path)) == []
    lines = evidence.summary(case, str(tmp_path), n=50)
    assert sum("TCP [R" in line for line in lines) == 4, lines

    def claims_a_refusal(r):
        deliver = next(s for s in r["steps"] if s["op"] == "deliver")
        r["steps"].append(dict(deliver, op="connect", label="b.connect",
                               result="ECONNREFUSED"))
        return True
    path, cid = flipped(tmp_path, out, claims_a_refusal)
    case = next(c for c in read_records(path)[1:-1] if c["id"] == cid)
    port = case["steps"][-1]["port"]
    assert evidence.problems(case, str(tmp_path)) == [
        "b.connect: the case says the connect to port %d was refused, the capture has no RST "
        "from it" % port]


def test_a_pcap_of_more_packets_than_a_case_makes_is_refused(tmp_path, monkeypatch):
    """Under the size limit, tiny records could still be millions of objects in memory."""
    import struct as st
    monkeypatch.setattr(evidence, "MAX_PACKETS", 5)
    monkeypatch.setattr(evidence, "_decoded", {})
    header = st.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)     # Ethernet
    ip = st.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                 bytes([127, 0, 0, 1]))
    frame = b"\x00" * 12 + b"\x08\x00" + ip + st.pack(">HHHH", 1000, 2000, 8, 0)
    record = st.pack("<IIII", 0, 0, len(frame), len(frame)) + frame
    path = tmp_path / "many.pcap"
    path.write_bytes(header + record * 5)
    assert len(evidence.packets(str(path))) == 5
    path.write_bytes(header + record * 6)
    with pytest.raises(evidence.EvidenceError, match="more than 5 packets"):
        evidence.packets(str(path))


def test_a_missing_capture_is_evidence_that_cannot_be_used_not_a_disagreement(captured, tmp_path):
    """A case whose pcap is not in the folder it names: an error that says its capture
    cannot be read, not that the packets contradict it."""
    tmp, out = captured
    case = next(c for c in with_evidence(out) if "rebind-time-wait" in c["id"])
    kind, found = evidence.assess(case, str(tmp_path))         # a folder without the pcaps
    assert kind == "unusable" and "cannot read" in found[0], found
    j = judge.judge(case, [], {"os": "linux"}, evidence_dir=str(tmp_path))
    assert j.verdict == "error" and j.note.startswith("the packet evidence cannot be used: ")


def test_results_from_a_stream_are_judged_without_the_evidence_beside_them(captured, tmp_path):
    """`./bindmatrix check /dev/stdin` (or a FIFO, or <(ssh host cat ...)): the results have
    no folder, so no pcap can be found and none is looked for in /dev; they are judged, the
    check says the evidence was not checked, and nothing is written beside the stream."""
    from fixturekit import HARNESS, run_cli
    tmp, out = captured
    fifo = str(tmp_path / "results")
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'cat "$1" > "$2"', "sh", out, fifo])
    try:
        env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
        code, text = run_cli(["check", fifo], tmp_path, env, timeout=120)
    finally:
        writer.kill()
        writer.wait()
    assert code == 0, text
    n = len(with_evidence(out))
    assert "the results came from a stream, not a file: the packet evidence of its %d " \
        "cases that name some is not checked" % n in text, text
    assert "JUnit and the summary are not written" in text
    assert "packet evidence cannot be used" not in text and " 0 error" in text, text
    assert sorted(os.listdir(str(tmp_path))) == ["results"]


def test_results_copied_without_their_evidence_folder_say_so_once(captured, tmp_path):
    """A results file copied or downloaded alone (a CI artifact without its .evidence
    folder): check and report judge its cases on their observations and say once that their
    evidence was not checked, rather than make every captured case an error (and fail the
    claims built on them).  A folder that is there but lacks one case's pcap is still that
    case's error."""
    from fixturekit import HARNESS, run_cli
    tmp, out = captured
    alone = tmp_path / "alone.jsonl"
    shutil.copy(out, str(alone))
    n = len(with_evidence(out))
    note = ("the results' evidence folder %s is missing (copied without it?): the packet "
            "evidence of its %d cases that name some is not checked"
            % (tmp_path / "r.evidence", n))
    env = dict(os.environ, PYTHONPATH=HARNESS, BINDMATRIX_RUNNER=RUNNER)
    code, text = run_cli(["check", "--cases", CASES, str(alone)], tmp_path, env)
    assert code == 0 and note in text and " 0 error" in text, text
    assert "cannot be used" not in text
    rep = tmp_path / "rep"
    code, text = run_cli(["report", str(alone), "-o", str(rep), "--claims", "none",
                          "--no-documented"], tmp_path, env)
    assert code == 0 and "warning: %s: %s" % (
        read_records(out)[0]["host"], note) in text, text
    md = (rep / "report.md").read_text()
    # before the list of differences (here none), which the PR-comment budget may cut
    assert "### Warnings" in md and md.index("### Warnings") < md.index("No case differs")
    shutil.copytree(os.path.join(str(tmp), "r.evidence"), str(tmp_path / "r.evidence"))
    gone = sorted(os.listdir(str(tmp_path / "r.evidence")))[0]
    os.unlink(str(tmp_path / "r.evidence" / gone))
    code, text = run_cli(["check", "--cases", CASES, str(alone)], tmp_path, env)
    assert code == 1 and " 1 error" in text and "not checked" not in text, text
    assert "the packet evidence cannot be used: " in text and gone in text


def test_where_the_evidence_is_or_why_there_is_none_to_check(tmp_path):
    """evidence.kept: a file whose cases name none has nothing to say, even from a stream;
    one whose folder is there is checked there; one copied alone says so."""
    plain = [{"id": "a"}]
    named = [{"id": "b", "evidence": [{"kind": "pcap", "path": "r.evidence/b.pcap"}]}]
    results = tmp_path / "r.jsonl"
    results.write_text("{}\n")
    assert evidence.kept("/dev/stdin", plain) == (None, None)
    assert evidence.kept("/dev/stdin", named) == (None, "the results came from a stream, "
                                                        "not a file")
    assert evidence.kept(str(results), plain) == (str(tmp_path), None)
    assert evidence.kept(str(results), named) == (None, "the results' evidence folder %s is "
                                                        "missing (copied without it?)"
                                                  % (tmp_path / "r.evidence"))
    (tmp_path / "r.evidence").mkdir()
    assert evidence.kept(str(results), named) == (str(tmp_path), None)
    assert evidence.unchecked_note("why", named + plain) == \
        "why: the packet evidence of its 1 case that names some is not checked"
