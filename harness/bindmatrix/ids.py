"""Case ids and id patterns.

An id is `<scenario>[axis=value,...]`.  A pattern is an exact id or a shell glob in which
`*` and `?` are wildcards and `[` `]` are literal (they are part of every id):
`tcp/*`, `udp/unicast-reuseaddr[family=ipv4]`, `tcp/bind-conflict[*user=other*`.
"""

import fnmatch


def _glob(pattern):
    out = []
    for ch in pattern:
        out.append("[%s]" % ch if ch in "[]" else ch)
    return "".join(out)


def match_id(pattern, cid):
    if pattern == cid:
        return True
    return fnmatch.fnmatchcase(cid, _glob(pattern))
