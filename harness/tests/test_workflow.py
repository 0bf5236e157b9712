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
