"""Load a results .jsonl file written by bindmatrix-runner.

Every line is checked against harness/schema/results-1.schema.json (the definition its
`record` names), then the file's structure: a run record first, an end record last whose
counts match, case ids unique, step labels unique within a case, schema version 1 only.
Any problem raises ResultsError naming the file, the line and the field.
"""

import copy
import json
import os
import stat
import threading
from dataclasses import dataclass, field

from . import SCHEMA_VERSION, readfile

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "schema", "results-1.schema.json")
RECORD_KINDS = ("run", "case", "end")


class ResultsError(Exception):
    """A results file that cannot be used; str() is 'file:line: message'."""

    def __init__(self, path, line, message):
        self.path = path
        self.line = line
        self.message = message
        where = "%s:%d" % (path, line) if line else str(path)
        super().__init__("%s: %s" % (where, message))

    def __reduce__(self):           # pickled whole, from the process that checked the file
        return (ResultsError, (self.path, self.line, self.message))



@dataclass
class ResultSet:
    path: str
    run: dict
    cases: list
    end: dict
    by_id: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.by_id:
            self.by_id = {c["id"]: c for c in self.cases}


_validators = None
_validators_made = threading.Lock()     # kernels reads guests' results from several threads


def _variant(schema, kind):
    """The schema rooted at one record kind's definition, with an absolute $id so that
    "#/$defs/..." references resolve; dispatching on `record` gives precise errors."""
    variant = copy.deepcopy(schema)
    variant.pop("oneOf", None)
    variant["$id"] = "urn:bindmatrix:results-1:" + kind
    variant["$ref"] = "#/$defs/" + kind
    return variant


def _load_validators():
    """Per record kind: a compiled validator (fastjsonschema: about the cost of parsing the
    line) and, to explain a failure precisely, jsonschema's Draft 2020-12 validator."""
    global _validators
    with _validators_made:
        if _validators is not None:
            return _validators
        # imported here: a process whose records a SchemaCheck child checks needs none of it
        # (its import, which pulls in urllib and http.client, and the compiling: 60 ms)
        import fastjsonschema
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            schema = json.load(f)
        made = {}           # published whole: another thread never sees a kind missing
        for kind in RECORD_KINDS:
            variant = _variant(schema, kind)
            fast = copy.deepcopy(variant)
            fast["$schema"] = "http://json-schema.org/draft-07/schema#"
            # fastjsonschema decides if/then by raising and catching an exception for every
            # record the `if` does not hold for (each observed case): ten times the cost of
            # the rest.  The conditions go to the full validator instead, for the records a
            # condition can apply to (skipped and error cases: few).
            full = copy.deepcopy(fast)
            conditional = bool(fast["$defs"][kind].pop("allOf", None))
            made[kind] = (fastjsonschema.compile(fast, handlers={}), variant,
                          fastjsonschema.compile(full, handlers={})
                          if conditional else None, fastjsonschema.JsonSchemaException)
        _validators = made
        return _validators


_explainers = {}


def _explain(variant):
    """The slow validator, made (and imported) only when a record needs it, once per kind."""
    key = variant["$id"]
    if key not in _explainers:
        import jsonschema
        _explainers[key] = jsonschema.Draft202012Validator(variant)
    return _explainers[key]


def lone_surrogate(raw, value):
    """Where value, decoded from the JSON text raw, holds a lone UTF-16 surrogate (an escape
    JSON lets through and no output can hold): its field path ("steps[0].label"), or None.
    Only text with such an escape (\\ud800 to \\udfff) is walked."""
    if "\\ud" not in raw and "\\uD" not in raw:
        return None
    where = surrogate_at(value)
    return None if where is None else field_path(where) or "(record)"


def surrogate_at(value, at=()):
    """The path ([key or index, ...]) of the first string in value that holds a lone
    surrogate, or None."""
    if isinstance(value, str):
        return list(at) if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = surrogate_at(key, at) if isinstance(key, str) else None
        found = found if found is not None else surrogate_at(item, at + (key,))
        if found is not None:
            return found
    return None


def field_path(parts):
    """['steps', 0, 'result'] -> 'steps[0].result'."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += "[%d]" % p
        else:
            out += ("." if out else "") + str(p)
    return out


def _describe(error):
    """(field, message) for a jsonschema ValidationError."""
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            return field_path(parts + [missing[0]]), "is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return field_path(parts + [extra[0]]), "is not a known field"
    if error.validator == "pattern" and error.schema.get("x-means"):
        # what the pattern means (the schema says it), not the regular expression itself
        return field_path(parts), "%r is not %s" % (error.instance, error.schema["x-means"])
    return field_path(parts) or "(record)", error.message


def _check_record(path, lineno, record, validators):
    if not isinstance(record, dict):
        raise ResultsError(path, lineno, "not a JSON object but %s" % type(record).__name__)
    kind = record.get("record")
    if kind not in RECORD_KINDS:
        raise ResultsError(path, lineno, "field 'record': %r is not one of %s"
                           % (kind, ", ".join(RECORD_KINDS)))
    fast, variant, full, invalid = validators[kind]
    try:
        fast(record)
        if full is None or record.get("status") == "observed":
            return
        full(record)                    # the conditions too, for the records they concern
        return
    except invalid as e:
        fast_message = e.message
    errors = sorted(_explain(variant).iter_errors(record),
                    key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
    if not errors:
        raise ResultsError(path, lineno, fast_message)
    if errors:
        where, message = _describe(errors[0])
        more = " (and %d more problem%s)" % (len(errors) - 1, "s" if len(errors) > 2 else "") \
            if len(errors) > 1 else ""
        raise ResultsError(path, lineno, "field '%s': %s%s" % (where, message, more))


# A results file bindmatrix reads is at most this: the runner stops at 200,000 cases a run
# (BM_MAX_CASES_PER_RUN, cases/README.md), about 1.3 KB each, 260 MB
MAX_BYTES = 512 << 20
MAX_CASES = 200000


_piped = {}     # path -> the bytes a pipe gave: it can be read only once


# what a results file downloaded from CI is often packed with: (magic bytes, how to unpack)
COMPRESSED = ((b"\x1f\x8b", "gzip", "zcat"), (b"\xfd7zXZ\x00", "xz", "xzcat"),
              (b"\x28\xb5\x2f\xfd", "zstd", "zstdcat"), (b"BZh", "bzip2", "bzcat"))


def is_plain_file(path):
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _read_lines(path):
    # a plain file or a pipe (`check <(...)`: read once, kept for whoever reads it again)
    data = _piped.get(path)
    if data is None:
        try:
            data = readfile.read(path, MAX_BYTES, "results file", pipes=True)
        except readfile.Unreadable as e:
            raise ResultsError(path, 0, str(e)) from None
        if not is_plain_file(path):
            _piped[path] = data
    packed = next((c for c in COMPRESSED if data.startswith(c[0])), None)
    if packed:
        raise ResultsError(path, 0, "compressed with %s: give its text, e.g. <(%s %s)"
                           % (packed[1], packed[2], path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ResultsError(path, line, "not UTF-8: %s" % e.reason) from None
    if not text:
        raise ResultsError(path, 0, "empty file: no run record")
    complete = text.endswith("\n")
    lines = text.split("\n")
    if complete:
        lines.pop()
    return lines, complete


_loaded = {}


def load_results(path):
    """Read and check a results file; returns a ResultSet or raises ResultsError.  A file is
    read and validated once per process (every command in it shares the result)."""
    path = str(path)
    key = readfile.file_key(path)
    if key in _loaded:
        return _loaded[key]
    rs = _load(path)
    if key is not None:
        _loaded[key] = rs
    return rs


def load_unchecked(path):
    """The file read with its structure checked but not its records' schema: for a caller
    that has SchemaCheck make those checks in another process meanwhile, and that acts on
    nothing before its answer.  A record too malformed to read is a ResultsError here too
    (SchemaCheck then says precisely what is wrong).  Not remembered: load_results is."""
    try:
        return _load(str(path), validators=None)
    except (KeyError, TypeError, AttributeError) as e:
        raise ResultsError(str(path), 0, "malformed records (%s: %s)"
                           % (type(e).__name__, e)) from None


class SchemaCheck:
    """Every record of the files checked against the schema, as load_results checks them,
    in a forked child while this process goes on (where there is a second CPU; else when
    asked).  problems() waits for the answer: [ResultsError message], empty when all hold."""

    def __init__(self, paths, timeout=300):
        from . import forked
        self.paths = [str(p) for p in paths]
        self.timeout = timeout
        self.child = None
        # a pipe is read once, by this process: then it is checked here, from what it gave
        if forked.can_fork() and all(is_plain_file(p) for p in self.paths):
            self.child = forked.Child(self._check, codec="pickle")   # it compiles them

    def _check(self):
        out = []
        for path in self.paths:
            try:
                load_results(path)
            except ResultsError as e:
                out.append(e)
        return out

    def errors(self):
        """[ResultsError], as load_results raised them, one per bad file."""
        child, self.child = self.child, None
        if child is None:
            return self._check()
        try:
            return list(child.result(self.timeout))
        except RuntimeError:
            return self._check()            # the child failed: check here instead

    def problems(self):
        return [str(e) for e in self.errors()]


def load_checked(path, work):
    """(load_results(path), work(that set)): the same value, or the same ResultsError, sooner.
    The records' schema is checked in a forked child (SchemaCheck) while this process reads
    the file unchecked and does the work with it; nothing is returned before the child's
    answer, and a work that failed on a malformed record raises what the check found."""
    path = str(path)
    key = readfile.file_key(path)
    if key in _loaded:
        return _loaded[key], work(_loaded[key])
    schema = SchemaCheck([path])
    try:
        rs = load_unchecked(path)
        value = work(rs)
    except Exception:
        bad = schema.errors()
        if bad:
            raise bad[0] from None
        raise
    bad = schema.errors()
    if bad:
        raise bad[0]
    if key is not None and key == readfile.file_key(path):
        _loaded[key] = rs                   # checked: load_results answers with it now
    return rs, value


def _load(path, validators=True):
    if validators is True:
        validators = _load_validators()
    lines, complete = _read_lines(path)
    run = end = None
    end_line = 0
    cases = []
    seen = {}
    for lineno, line in enumerate(lines, 1):
        if end is not None:
            raise ResultsError(path, lineno, "a record after the end record (line %d)" % end_line)
        if not line.strip():
            raise ResultsError(path, lineno, "empty line")
        try:
            record = json.loads(line)
        except RecursionError:
            raise ResultsError(path, lineno, "not JSON: nested too deeply") from None
        except ValueError as e:
            if lineno == len(lines) and not complete:
                raise ResultsError(path, lineno, "truncated: the last line is incomplete JSON "
                                   "(%s); the runner did not finish" % e) from None
            raise ResultsError(path, lineno, "not JSON: %s" % e) from None
        where = lone_surrogate(line, record)
        if where is not None:
            raise ResultsError(path, lineno, "field '%s': not text: a lone UTF-16 surrogate "
                               "(\\ud800 to \\udfff), which no output can hold" % where)
        if lineno == 1:
            if not isinstance(record, dict) or record.get("record") != "run":
                raise ResultsError(path, 1, "field 'record': the first line must be the run "
                                   "record, not %r" % (record.get("record")
                                                       if isinstance(record, dict) else record))
            if record.get("schema") != SCHEMA_VERSION:
                raise ResultsError(path, 1, "field 'schema': unsupported results schema version "
                                   "%r (this harness reads version %d)"
                                   % (record.get("schema"), SCHEMA_VERSION))
        if validators is not None:
            _check_record(path, lineno, record, validators)
        kind = record["record"]
        if kind == "run":
            if lineno != 1:
                raise ResultsError(path, lineno, "field 'record': a second run record "
                                   "(only line 1 may be one)")
            run = record
        elif kind == "case":
            if len(cases) == MAX_CASES:     # tiny records would otherwise fill the memory
                raise ResultsError(path, lineno, "more than %d cases: more than a run of the "
                                   "runner has" % MAX_CASES)
            cid = record["id"]
            if cid in seen:
                raise ResultsError(path, lineno, "field 'id': duplicate case id %r (first on "
                                   "line %d)" % (cid, seen[cid]))
            seen[cid] = lineno
            labels = set()
            for i, step in enumerate(record["steps"]):
                if step["label"] in labels:
                    raise ResultsError(path, lineno, "field 'steps[%d].label': duplicate step "
                                       "label %r" % (i, step["label"]))
                labels.add(step["label"])
            cases.append(record)
        else:
            end, end_line = record, lineno
    if end is None:
        last = lines[-1] if lines else ""
        raise ResultsError(path, len(lines), "truncated: no end record (the runner did not "
                           "finish%s)" % ("" if last else ", or the file is empty"))
    counts = {"cases": len(cases)}
    for status in ("observed", "skipped", "error"):
        counts[status] = sum(1 for c in cases if c["status"] == status)
    for key, n in counts.items():
        if end[key] != n:
            raise ResultsError(path, end_line, "field '%s': end record says %d, the file has %d"
                               % (key, end[key], n))
    return ResultSet(path=path, run=run, cases=cases, end=end)


def _load_or_error(path):
    try:
        return load_results(path)
    except ResultsError as e:
        return e


def load_many(paths, checked=True):
    """[ResultSet or ResultsError] for each path, all of them read (a report lists every bad
    file at once).  Reading them in parallel processes was measured no faster: sending the
    records back costs what it saves; checking them in another process costs nothing to send
    (checked=False: the caller has a SchemaCheck)."""
    if checked:
        return [_load_or_error(str(p)) for p in paths]
    out = []
    for p in paths:
        try:
            out.append(load_unchecked(p))
        except ResultsError as e:
            out.append(e)
    return out
