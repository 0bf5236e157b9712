"""The HTML report in a real browser: this host's real results (the runner, run here) and an
edited copy that differs, loaded in headless chromium (one browser for the module, a tab per
page: browserkit.py).  The page's #selftest hook applies the filters and writes what it saw
into the DOM, which the test reads back.

Set BINDMATRIX_SCREENSHOTS=DIR to keep the screenshots."""

import html as htmlmod
import json
import os
import re
import struct

import pytest

from bindmatrix.report import cli
from browserkit import Browser
from reportkit import CASES, CHROMIUM, edit_results, read_records, real_results

# ./bindmatrix test installs chromium and builds the runner first, and sets
# BINDMATRIX_REQUIRE_BROWSER=1: there a missing browser or runner fails instead of skipping.
REQUIRED = bool(os.environ.get("BINDMATRIX_REQUIRE_BROWSER"))

# one pytest-xdist process takes them all (./bindmatrix test runs --dist loadgroup): one
# browser and one real run for the module, not one in each process (half a CPU-second each)
pytestmark = pytest.mark.xdist_group("browser")


def unavailable(why):
    if REQUIRED:
        pytest.fail(why + " (BINDMATRIX_REQUIRE_BROWSER is set)")
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _browser_present():
    if CHROMIUM is None:
        unavailable("chromium is not installed (Debian: apt-get install chromium; ./bindmatrix test does)")

@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        unavailable("chromium is not installed (Debian: apt-get install chromium; ./bindmatrix test does)")
    with Browser(CHROMIUM) as b:
        yield b


def screenshot(browser, url, width, height, path):
    page = browser.open(url, width, height)
    try:
        png = page.screenshot()
    finally:
        page.close()
    with open(path, "wb") as f:
        f.write(png)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """This host's results of a few scenarios, run here once for the module."""
    path, why = real_results(tmp_path_factory.mktemp("real") / "real.jsonl")
    if path is None:
        unavailable(why)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory, real):
    tmp = tmp_path_factory.mktemp("browser")
    cases = read_records(real)[1:-1]
    observed = [c["id"] for c in cases if c["status"] == "observed"]
    listener = next(c for c in observed if c.startswith("tcp/second-listener["))
    unicast = next(c for c in observed if c.startswith("udp/unicast-reuseaddr["))
    broken = next(c for c in observed if c.startswith("tcp/different-local-address["))
    edited = edit_results(real, str(tmp / "edited.jsonl"), host="linux-edited-6.1",
                          release="6.1.0-edited",
                          results={listener: {"b.bind": "ok", "b.listen": "ok"}},
                          delivery={unicast: {"a": 8, "b": 8}},
                          error=[broken])
    out = tmp / "report"
    assert cli.main([real, edited, "-o", str(out), "--cases", CASES]) == 0
    return {"dir": out, "html": out / "report.html", "total": len(cases),
            "changed": {listener, unicast}, "tmp": tmp}


def selftest(browser, page, width=1400):
    tab = browser.open("file://%s#selftest" % page, width, 1000)
    try:
        dom = tab.dom()
    finally:
        tab.close()
    m = re.search(r'<div id="bm-selftest"[^>]*data-result="([^"]*)"', dom)
    assert m, "no selftest result in the DOM:\n%s" % dom[-2000:]
    return json.loads(htmlmod.unescape(m.group(1))), dom


@pytest.mark.long
def test_the_page_renders_and_the_filters_work(browser, report):
    res, dom = selftest(browser, report["html"])
    assert res["ok"] is True
    assert res["total"] == report["total"]
    # exactly the two edited outcomes differ between the hosts (the error is not a difference)
    assert res["disagree"] == 2
    assert res["final_visible"] == 2
    assert res["hidden_rows"] == report["total"] - 2
    assert res["disagree_all"] >= res["disagree"]
    assert res["problem"] == 3                       # two mismatches and one error
    assert 0 < res["text_udp"] < report["total"]
    assert res["text_none"] == 0 and res["none_message"] is True
    assert res["all"] == report["total"]
    assert res["detail_hosts"] >= 2                  # a detail row per host column
    # the rows left visible are the changed cases
    visible = re.findall(r'<tr class="row[^"]*" data-i="\d+" data-id="([^"]*)"(?![^>]*hidden)',
                         dom)
    assert set(htmlmod.unescape(v) for v in visible) == report["changed"]


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.long
def test_screenshot(browser, report):
    shots = os.environ.get("BINDMATRIX_SCREENSHOTS") or str(report["tmp"])
    os.makedirs(shots, exist_ok=True)
    for name, url in (("report-top.png", "file://%s" % report["html"]),
                      ("report-selftest.png", "file://%s#selftest" % report["html"])):
        path = os.path.join(shots, name)
        if os.path.exists(path):
            os.unlink(path)
        screenshot(browser, url, 1400, 1800, path)
        width, height = png_size(path)
        assert (width, height) == (1400, 1800)
        # a blank page compresses to a few kB; the report is tables, colour and text
        assert os.path.getsize(path) > 50000, "screenshot looks empty: %s" % path


@pytest.fixture(scope="module")
def six_hosts(tmp_path_factory, real):
    """Six hosts (one real run and five edited copies with long labels), the documented
    columns beside them."""
    tmp = tmp_path_factory.mktemp("six")
    cases = [c for c in read_records(real)[1:-1] if c["status"] == "observed"]
    paths = [real]
    for k in range(1, 6):
        flips = {c["id"]: {s["label"]: "EACCES" for s in c["steps"] if s["op"] != "state"}
                 for c in cases[k::7]}
        paths.append(edit_results(real, str(tmp / ("h%d.jsonl" % k)),
                                  host="linux-6.%d.%d-%d-cloud-amd64" % (k, 40 + k, k),
                                  release="6.%d.%d" % (k, 40 + k), results=flips))
    out = tmp / "report"
    assert cli.main(paths + ["-o", str(out), "--cases", CASES]) == 0
    return {"html": out / "report.html", "tmp": tmp}


@pytest.mark.long
def test_six_hosts_fit_in_1400_pixels(browser, six_hosts):
    """At 1400 px every host column of the matrix is in view beside the sticky case column,
    and the filters and the detail still work."""
    res, _dom = selftest(browser, six_hosts["html"], 1400)
    assert res["ok"] is True
    assert res["window_width"] == 1400
    assert res["host_columns"] == 9                  # 6 hosts + 3 documented OSes
    assert res["columns_in_view"] >= 6, res
    assert res["case_column_sticky"] is True
    assert res["disagree"] > 0 and res["final_visible"] == res["disagree"]
    assert res["detail_hosts"] == 9
    shots = os.environ.get("BINDMATRIX_SCREENSHOTS") or str(six_hosts["tmp"])
    path = os.path.join(shots, "report-six-hosts.png")
    screenshot(browser, "file://%s#selftest-matrix" % six_hosts["html"], 1400, 1000, path)
    assert png_size(path) == (1400, 1000)
    assert os.path.getsize(path) > 30000, "screenshot looks empty: %s" % path


HOSTILE = ("</script><script>window.__injected = 'script'</script>"
           "<img src=x onerror=\"window.__injected = 'img'\">")


@pytest.mark.long
def test_text_from_a_results_file_is_shown_as_text_never_run(browser, tmp_path):
    """Host labels, reasons, notes and diffs come from results files made elsewhere: in the
    page (its table, its data, the detail panel the script builds) they are text.  The case
    whose reason carries markup is opened, and nothing it carried ran or became an element."""
    from fixturekit import SAMPLE_CASES, SAMPLE_RESULTS
    lines = open(SAMPLE_RESULTS).read().splitlines()
    out, target = [], None
    for line in lines:
        record = json.loads(line)
        if record.get("record") == "run":
            record["host"] = "host" + HOSTILE
        elif record.get("record") == "case" and record.get("status") == "skipped":
            record["reason"] = "reason" + HOSTILE
            target = record["id"]
        out.append(json.dumps(record))
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("\n".join(out) + "\n")
    assert target is not None
    rep = tmp_path / "rep"
    assert cli.main([str(hostile), "-o", str(rep), "--cases", SAMPLE_CASES,
                     "--claims", "none"]) in (0, 1)
    import urllib.parse
    page = browser.open("file://%s#case=%s" % (rep / "report.html",
                                                urllib.parse.quote(target)), 1400, 1000)
    try:
        seen = json.loads(page.evaluate(
            "JSON.stringify({injected: window.__injected || null,"
            " imgs: document.querySelectorAll('img[src=\"x\"]').length,"
            " scripts: Array.from(document.scripts).filter(function (s) {"
            "   return s.textContent.indexOf('__injected') >= 0 && s.type !== 'application/json'; }).length,"
            " shown: document.body.innerText.indexOf('reason</script>') >= 0})"))
    finally:
        page.close()
    assert seen == {"injected": None, "imgs": 0, "scripts": 0, "shown": True}, seen
