import json

import pytest

from bindmatrix import results as results_mod
from bindmatrix.results import ResultsError, load_checked, load_results
from fixturekit import (SAMPLE_RESULTS, case_record, end_record, run_record, step, write_lines,
                        write_results)


def ok_case(cid="s/a[x=1]", **extra):
    return case_record(cid, steps=[step("b.bind", "ok")], axes={"x": "1"}, **extra)


def test_sample_loads():
    rs = load_results(SAMPLE_RESULTS)
    assert rs.run["os"] == "linux"
    assert len(rs.cases) == 5 and rs.end["skipped"] == 1
    assert "udp/reuseport-delivery[family=ipv4]" in rs.by_id


def test_minimal_file_loads(tmp_path):
    path = write_results(tmp_path / "r.jsonl", [ok_case(), ok_case("s/a[x=2]")])
    rs = load_results(path)
    assert [c["id"] for c in rs.cases] == ["s/a[x=1]", "s/a[x=2]"]
    assert rs.path == path


def test_no_cases_loads(tmp_path):
    assert load_results(write_results(tmp_path / "r.jsonl", [])).cases == []


def expect_error(path, *fragments):
    with pytest.raises(ResultsError) as e:
        load_results(path)
    msg = str(e.value)
    for fragment in fragments:
        assert fragment in msg, msg
    return e.value


def test_load_checked_gives_what_load_results_gives_and_its_errors(tmp_path, monkeypatch):
    """The schema checked in a child while the work runs on the unchecked records: the same
    set, the work's value; a bad record raises load_results' own error, also when the work
    broke on it first, and the work's value is never handed out then."""
    monkeypatch.setattr(results_mod, "_loaded", {})
    good = write_results(tmp_path / "good.jsonl", [ok_case(), ok_case("s/a[x=2]")])
    rs, ids = load_checked(good, lambda r: [c["id"] for c in r.cases])
    assert ids == ["s/a[x=1]", "s/a[x=2]"] and load_results(good) is rs   # checked: kept
    for broken, field in (({"duration_us": "fast"}, "duration_us"), ({"scenario": None},
                                                                       "scenario")):
        bad = ok_case("s/a[x=3]", **{k: v for k, v in broken.items() if v is not None})
        for k, v in broken.items():
            if v is None:
                del bad[k]
        path = write_results(tmp_path / ("bad-%s.jsonl" % field), [ok_case(), bad])
        with pytest.raises(ResultsError) as direct:
            load_results(path)
        seen = []
        with pytest.raises(ResultsError) as e:
            load_checked(path, lambda r: seen.append(len(r.cases)))
        assert str(e.value) == str(direct.value) and "field '%s'" % field in str(e.value)
        assert seen == [2]                   # the work ran; its value was not handed out
        with pytest.raises(ResultsError) as e:      # the work broke on it (a KeyError)
            load_checked(path, lambda r: [c["scenario"] + c["steps"][0]["op"] for c in r.cases])
        assert str(e.value) == str(direct.value)


def test_corrupt_json_line(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [run_record(), ok_case(), '{"record": "case", "id":',
                                             end_record([ok_case()])])
    err = expect_error(path, "r.jsonl:3:", "not JSON")
    assert err.line == 3


def test_unknown_schema_version(tmp_path):
    path = write_results(tmp_path / "r.jsonl", [ok_case()], run=run_record(schema=2))
    expect_error(path, "r.jsonl:1:", "field 'schema'", "unsupported results schema version 2",
                 "version 1")


def test_missing_end_record(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [run_record(), ok_case()])
    expect_error(path, "r.jsonl:2:", "truncated: no end record")


def test_incomplete_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(run_record()) + "\n" + '{"record": "ca')
    expect_error(str(path), "r.jsonl:2:", "truncated")


def test_wrong_field_type_in_step(tmp_path):
    bad = case_record("s/a", steps=[step("b.bind", "EADDR in use")])
    path = write_results(tmp_path / "r.jsonl", [ok_case(), bad])
    err = expect_error(path, "r.jsonl:3:", "field 'steps[0].result'", "'EADDR in use'")
    assert err.line == 3


def test_wrong_field_type_top_level(tmp_path):
    bad = ok_case(duration_us="fast")
    path = write_results(tmp_path / "r.jsonl", [bad])
    expect_error(path, "r.jsonl:2:", "field 'duration_us'", "not of type 'integer'")


def test_missing_required_field(tmp_path):
    bad = ok_case()
    del bad["scenario"]
    expect_error(write_results(tmp_path / "r.jsonl", [bad]), "r.jsonl:2:", "field 'scenario'",
                 "required")


def test_unknown_field(tmp_path):
    bad = ok_case(colour="red")
    expect_error(write_results(tmp_path / "r.jsonl", [bad]), "r.jsonl:2:", "field 'colour'",
                 "not a known field")


def test_skipped_needs_reason(tmp_path):
    bad = case_record("s/a", status="skipped")
    expect_error(write_results(tmp_path / "r.jsonl", [bad]), "r.jsonl:2:", "field 'reason'")


def test_bad_delivery_count(tmp_path):
    bad = case_record("s/a", steps=[step("deliver", "ok", delivery={"sent": 4,
                                                                    "received": {"a": -1}})])
    expect_error(write_results(tmp_path / "r.jsonl", [bad]), "field 'steps[0].delivery.received.a'")


def test_duplicate_case_id(tmp_path):
    path = write_results(tmp_path / "r.jsonl", [ok_case(), ok_case()])
    expect_error(path, "r.jsonl:3:", "field 'id'", "duplicate case id 's/a[x=1]'", "line 2")


def test_duplicate_step_label(tmp_path):
    bad = case_record("s/a", steps=[step("b.bind", "ok"), step("b.bind", "ok")])
    expect_error(write_results(tmp_path / "r.jsonl", [bad]), "r.jsonl:2:", "steps[1].label",
                 "duplicate step label")


def test_first_line_must_be_run(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [ok_case(), end_record([ok_case()])])
    expect_error(path, "r.jsonl:1:", "first line must be the run record")


def test_unknown_record_kind(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [run_record(), {"record": "note"}, end_record([])])
    expect_error(path, "r.jsonl:2:", "field 'record'", "'note'")


def test_record_after_end(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [run_record(), end_record([]), ok_case()])
    expect_error(path, "r.jsonl:3:", "after the end record")


def test_end_counts_must_match(tmp_path):
    cases = [ok_case(), case_record("s/b", status="error", reason="no TIME_WAIT")]
    path = write_results(tmp_path / "r.jsonl", cases, end=end_record(cases, error=0))
    expect_error(path, "r.jsonl:4:", "field 'error'", "end record says 0, the file has 1")


def test_empty_line(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [run_record(), "", end_record([])])
    expect_error(path, "r.jsonl:2:", "empty line")


def test_empty_file(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("")
    expect_error(str(path), "empty file")


def test_missing_file(tmp_path):
    expect_error(str(tmp_path / "nope.jsonl"), "nope.jsonl", "cannot read")


def test_the_validators_are_made_once_and_whole_for_threads_that_read_at_once(monkeypatch):
    """./bindmatrix kernels reads its guests' results from several threads: the first read
    makes the validators, and a thread that reads meanwhile gets every kind of record's, not
    the dict half filled (a KeyError: 'case' under load)."""
    import threading
    import time
    import fastjsonschema
    compile_ = fastjsonschema.compile

    def slow_compile(*a, **kw):            # widens the moment the dict is being filled
        time.sleep(0.01)
        return compile_(*a, **kw)
    monkeypatch.setattr(results_mod, "_validators", None)
    monkeypatch.setattr(fastjsonschema, "compile", slow_compile)
    seen = []
    # the kinds each thread got, as it got them
    threads = [threading.Thread(target=lambda: seen.append(set(results_mod._load_validators())))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == [set(results_mod.RECORD_KINDS)] * 4, seen
