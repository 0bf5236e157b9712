"""The manifest: the runner's one model of a case, valid against its schema, and the
vocabulary it carries agreeing with the schemas and with cases/README.md, so none of the
three can drift from the others."""

import json
import os
import re
import subprocess

import jsonschema
import pytest

from bindmatrix import manifest as manifest_mod
from fixturekit import BIND_CASE, HARNESS, REPO, RUNNER, manifest_of, scenario_tree

CASES = os.path.join(REPO, "cases")
README = os.path.join(CASES, "README.md")
SCHEMAS = os.path.join(HARNESS, "schema")


def load_schema(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def doc():
    proc = subprocess.run([RUNNER, "--manifest", CASES], stdout=subprocess.PIPE, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def vocab(doc):
    return doc["vocabulary"]


@pytest.mark.long
def test_the_repository_manifest_validates(doc):
    """The schema is valid Draft 2020-12; every case of the manifest holds to it (checked by
    a compiled validator: the reference one takes seconds over five thousand cases), and the
    reference validator agrees on the first case of every scenario."""
    import copy
    import fastjsonschema
    schema = load_schema("manifest-1.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    compiled = copy.deepcopy(schema)
    compiled["$schema"] = "http://json-schema.org/draft-07/schema#"   # its newest draft
    # A step's if/then conditions cost the compiled validator an exception each time an `if`
    # fails: seconds over sixteen thousand steps, of which about a hundred differ.  So the
    # whole document without them, then every distinct step with them: the same verdicts.
    unconditional = copy.deepcopy(compiled)
    assert unconditional["$defs"]["step"].pop("allOf")
    fastjsonschema.compile(unconditional)(doc)
    check_step = fastjsonschema.compile({"$schema": compiled["$schema"],
                                         "$defs": compiled["$defs"], "$ref": "#/$defs/step"})
    distinct = {json.dumps(s, sort_keys=True): s for c in doc["cases"] for s in c["steps"]}
    for step in distinct.values():
        check_step(step)
    bind = next(s for s in distinct.values() if s["op"] == "bind")
    with pytest.raises(fastjsonschema.JsonSchemaException):     # the conditions are there
        check_step({k: v for k, v in bind.items() if k != "addr"})
    firsts, seen = [], set()
    for c in doc["cases"]:
        if c["scenario"] not in seen:
            seen.add(c["scenario"])
            firsts.append(c)
    sample = dict(doc, cases=firsts)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(sample))
    assert not errors, errors[0]
    assert len(doc["cases"]) == sum(s["cases"] for s in doc["scenarios"]) > 3000


def test_every_step_says_whether_it_is_a_precondition(doc):
    for c in doc["cases"]:
        for s in c["steps"]:
            assert isinstance(s["precondition"], bool)
            if s["op"] == "state":
                assert s["precondition"], c["id"]


def test_the_case_set_hash_is_what_the_schema_says(doc):
    h = 0xcbf29ce484222325
    for c in doc["cases"]:
        c = {k: v for k, v in c.items() if k != "step_lines"}
        assert "line" not in json.dumps(c["steps"])
        for byte in (json.dumps(c, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                     + "\n").encode("utf-8"):
            h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    assert doc["case_set_hash"] == "fnv1a64:%016x" % h


def test_a_manifest_says_which_axes_vary(tmp_path):
    m = manifest_of(scenario_tree(tmp_path, {"tcp/s": BIND_CASE}))
    axes = m.scenarios["tcp/s"].axes
    assert (axes["proto"].matrix, axes["proto"].varies) == (False, False)
    assert (axes["family"].matrix, axes["family"].values) == (True, ["ipv4", "ipv6"])
    cd = m.by_id["tcp/s[family=ipv6,reuse=reuseaddr]"]
    assert cd.observed_labels == ["b.bind", "b.listen"]
    assert cd.sockets[0]["options"] == [{"name": "reuseaddr", "value": 1}]
    assert m.scenarios["tcp/s"].dir.endswith(os.path.join("cases", "tcp", "s"))


def test_a_bad_case_file_is_a_manifest_error_naming_file_and_line(tmp_path):
    cases = scenario_tree(tmp_path, {"tcp/s": BIND_CASE.replace("op: listen", "op: lisen")})
    with pytest.raises(manifest_mod.ManifestError, match=r"case\.yaml:13.*lisen"):
        manifest_of(cases)


def test_no_python_module_reads_case_yaml():
    """The runner is the only reader of case.yaml: the harness asks it for the manifest."""
    offenders = []
    for root, _dirs, files in os.walk(os.path.join(HARNESS, "bindmatrix")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    if re.search(r"""["']case\.yaml["']""", f.read()):
                        offenders.append(name)
    assert offenders == ["expectations.py"] or offenders == [], offenders


# ---- the vocabulary, three ways ----------------------------------------------------------

def readme_table(heading_or_first_cell):
    """First-column words of the Markdown table whose header row starts with that cell."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells[0] == heading_or_first_cell:
            out = []
            for row in lines[i + 2:]:
                if not row.lstrip().startswith("|"):
                    break
                first = row.strip().strip("|").split("|")[0].strip()
                out.append(first.strip("`"))
            return out
    raise AssertionError("no table starting with %r in cases/README.md" % heading_or_first_cell)


def test_readme_tables_name_exactly_the_vocabulary(vocab):
    assert sorted(readme_table("op")) == sorted(vocab["ops"])
    assert sorted(readme_table("state")) == sorted(vocab["states"])
    assert sorted(readme_table("name")) == sorted(vocab["addresses"])
    words = [w for w in readme_table("result") if re.match(r"^[a-z][a-z-]*$", w)]
    assert sorted(words) == sorted(vocab["runner_results"])


def test_readme_lists_every_option(vocab):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    listed = re.search(r"Names: (.*?)\. An option", text, re.S).group(1)
    names = {w.split("=")[0] for w in re.findall(r"`([a-z_0-9=]+)`", listed)}
    assert names - {"both"} == set(vocab["options"])


def test_schema_enums_are_the_vocabulary(vocab):
    manifest = load_schema("manifest-1.schema.json")["$defs"]
    results = load_schema("results-1.schema.json")["$defs"]
    for key, name in (("ops", "op"), ("states", "state"), ("protos", "proto"),
                      ("families", "family"), ("users", "user"), ("from", "from"),
                      ("addresses", "address")):
        assert manifest[name]["enum"] == vocab[key], name
    step = results["step"]["properties"]
    assert step["op"]["enum"] == vocab["ops"]
    pattern = re.compile(step["result"]["pattern"])
    for word in list(vocab["runner_results"]) + list(vocab["errors"]):
        assert pattern.match(word), word
    assert not pattern.match("timeot")
