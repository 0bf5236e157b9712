"""The runner started by an ordinary user (65534, from root with setpriv): it runs in a user
namespace of its own, and what such a run cannot do is skipped for the right reason."""

import os
import subprocess

from fixturekit import AS_USER, user_writable_copy
from reportkit import read_records


def test_an_option_the_os_lacks_is_the_reason_for_root_and_for_a_user_alike():
    """A case with an option this OS does not define and a socket of a second user: skipped
    for the option, whoever runs it (the expectation says so), not for the privilege an
    ordinary user lacks, which made a user's run show 4 mismatches."""
    with user_writable_copy("special/nonlocal-unprivileged") as (tmp, runner, cases):
        reasons = {}
        for who, drop in (("root", []), ("user", AS_USER)):
            out = os.path.join(tmp, "%s.jsonl" % who)
            proc = subprocess.run(drop + [runner, "-q", "-o", out, cases],
                                  stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
            reasons[who] = {c["id"]: c.get("reason") for c in read_records(out)[1:-1]
                            if "option=bindany" in c["id"]}
        assert len(reasons["root"]) == 8 and reasons["user"] == reasons["root"], reasons
        assert all("option bindany is not defined on this OS" in r
                   for r in reasons["user"].values()), reasons["user"]
