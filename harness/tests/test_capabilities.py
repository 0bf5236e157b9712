"""cases/capabilities.yaml: what a run on each OS must be able to set up."""

from bindmatrix import capabilities
from fixturekit import run_record


def test_a_skip_for_a_capability_the_run_must_have_is_an_error(tmp_path):
    """A case seen to run on Linux, skipped because this host lost its veth pair or its
    second user: an error naming the capability, unless --allow-skip accepts it."""
    from bindmatrix.conformance import Conformance
    from fixturekit import BIND_CASE, manifest_of, results_for, scenario_tree
    rules = ("- expect: {b.bind: EADDRINUSE, b.listen: not-run}\n  provenance: observed\n"
             "  seen_on: \"6.1.0\"\n  why: w\n")
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE}, {("tcp/s", "linux"): rules})
    m = manifest_of(cases)
    skipped = "tcp/s[family=ipv6,reuse=none]"
    path = results_for(m, {"*": {"b.bind": "EADDRINUSE", "b.listen": "not-run"}},
                       str(tmp_path / "r.jsonl"), status={skipped: (
                           "skipped", "needs root to act as a second user")})
    import json
    lines = open(path).read().splitlines()
    records = [json.loads(l) for l in lines]
    for r in records:
        if r.get("id") == skipped:
            r["capability"] = "other_user"
    open(path, "w").write("\n".join(json.dumps(r) for r in records) + "\n")
    conf = Conformance.of(path, m)
    j = next(j for c, _d, j in conf.judged if c["id"] == skipped)
    assert j.verdict == "error"
    assert "other_user" in j.note and "--allow-skip other_user" in j.note
    allowed = Conformance.of(path, m, allow_skip=["other_user"])
    assert next(j for c, _d, j in allowed.judged if c["id"] == skipped).verdict == "skipped"


def test_the_repository_file_loads_and_names_linux_as_root():
    table = capabilities.load()
    linux = capabilities.required(table, run_record(privileged=True))
    assert {"netns", "veth", "local2_v4", "other_user", "sock_diag"} <= linux
    assert "other_user" not in capabilities.required(table, run_record(privileged=False))
