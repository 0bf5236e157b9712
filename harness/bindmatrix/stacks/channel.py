"""The result channel: how a guest sends its results file to the host over a serial port of
its own (ttyS1), and how the host gets the bytes back out.

The guest writes a BEGIN marker line, the file gzip-compressed and base64-encoded (busybox
gzip and base64), and an END marker line with the byte count and the SHA-256 of the
compressed bytes.  Anything around the markers (kernel messages, a partial line, the \\r the
tty adds) is ignored; inside them only base64 may appear, and the count and checksum must
agree, so a damaged transfer is an error, never wrong results.
"""

import base64
import binascii
import gzip
import hashlib
import re

BEGIN = "BINDMATRIX-RESULTS BEGIN gzip+base64"
END = "BINDMATRIX-RESULTS END"
MISSING = "BINDMATRIX-RESULTS MISSING"
_END_LINE = re.compile(rb"BINDMATRIX-RESULTS END bytes=(\d+) sha256=([0-9a-f]{64})")
_BASE64 = re.compile(rb"[A-Za-z0-9+/=]*")


class ChannelError(Exception):
    pass


def guest_sender(device="/dev/ttyS1"):
    """A POSIX sh function `send_results FILE` for the guest's /init (busybox applets only).
    Closing the tty at the end of the redirection waits until the UART sent everything, so
    a poweroff right after it loses nothing."""
    return """send_results() {
    if [ ! -s "$1" ]; then
        printf '\\n%(missing)s\\n' > %(dev)s
        return 1
    fi
    gzip -c "$1" > /tmp/results.gz
    set -- $(wc -c < /tmp/results.gz) $(sha256sum /tmp/results.gz)
    {
        printf '\\n%(begin)s\\n'
        base64 /tmp/results.gz
        printf '%(end)s bytes=%%s sha256=%%s\\n' "$1" "$2"
    } > %(dev)s
}
""" % {"missing": MISSING, "begin": BEGIN, "end": END, "dev": device}


def encode(data):
    """What guest_sender writes for data (for tests)."""
    packed = gzip.compress(data, mtime=0)
    body = base64.encodebytes(packed).decode()
    return ("\n%s\n%s%s bytes=%d sha256=%s\n" % (BEGIN, body, END, len(packed),
                                                  hashlib.sha256(packed).hexdigest())).encode()


def extract(raw):
    """The results bytes from everything the channel carried.  The last complete transfer
    wins (a guest that sent twice).  Raises ChannelError saying what is wrong."""
    raw = bytes(raw)
    begin = raw.rfind(BEGIN.encode())
    if begin < 0:
        if MISSING.encode() in raw:
            raise ChannelError("the guest had no results to send (the runner wrote none)")
        raise ChannelError("no %r marker in the %d bytes of the result channel (the guest "
                           "never sent results)" % (BEGIN, len(raw)))
    body_start = raw.find(b"\n", begin)
    end = _END_LINE.search(raw, body_start if body_start >= 0 else len(raw))
    if body_start < 0 or end is None:
        raise ChannelError("the result channel has a BEGIN marker but no complete END marker "
                           "after it: the transfer was cut off after %d bytes"
                           % (len(raw) - begin))
    body = raw[body_start + 1:end.start()]
    for n, line in enumerate(body.splitlines(), 1):
        if not _BASE64.fullmatch(line.strip()):
            raise ChannelError("line %d after the BEGIN marker is not base64: %r"
                               % (n, line[:80]))
    try:
        packed = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as e:
        raise ChannelError("the data between the markers is damaged base64: %s" % e) from None
    want_len, want_sum = int(end.group(1)), end.group(2).decode()
    if len(packed) != want_len:
        raise ChannelError("the data between the markers decodes to %d bytes, the END marker "
                           "says %d" % (len(packed), want_len))
    if hashlib.sha256(packed).hexdigest() != want_sum:
        raise ChannelError("the data between the markers does not match the END marker's "
                           "sha256 (damaged in transfer)")
    try:
        return gzip.decompress(packed)
    except (OSError, EOFError) as e:
        raise ChannelError("the data is not gzip despite a good checksum: %s" % e) from None
