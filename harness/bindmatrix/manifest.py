"""The manifest: every expanded case as the runner sees it (`bindmatrix-runner --manifest`).

The runner is the only reader of case.yaml; everything in the harness that needs to know what
a case is (its axes, sockets, steps and which of them are preconditions, the scenario's title
and folder, the vocabulary of ops, states, options, errno names) reads it from here.

  from_runner(runner, paths, filters)  -> Manifest   (runs the runner; ManifestError on failure)
  load(path)                           -> Manifest   (a file the runner wrote: --manifest-out)
"""

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field

from . import forked, readfile
from .results import lone_surrogate

SCHEMA_VERSION = 1
KIND = "bindmatrix-manifest"
HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(HARNESS, "schema", "manifest-1.schema.json")
REPO = os.path.dirname(HARNESS)
DEFAULT_RUNNER = os.path.join(REPO, "build", "bindmatrix-runner")
DEFAULT_CASES = os.path.join(REPO, "cases")


class ManifestError(Exception):
    pass


@dataclass
class Axis:
    name: str
    values: list
    matrix: bool
    varies: bool


@dataclass
class CaseDef:
    id: str
    scenario: str
    axes: dict
    sockets: list
    steps: list
    sysctl: dict = field(default_factory=dict)
    capture: bool = False

    @property
    def labels(self):
        return [s["label"] for s in self.steps]

    @property
    def observed_labels(self):
        """The steps whose results make the outcome (not the preconditions)."""
        return [s["label"] for s in self.steps if not s.get("precondition")]

    def step(self, label):
        for s in self.steps:
            if s["label"] == label:
                return s
        return None

    def shape(self):
        """What the case does, independent of its scenario, labels and socket names: two
        cases with the same shape must behave the same on every host."""
        names = {s["name"]: i for i, s in enumerate(self.sockets)}
        socks = [(s["proto"], s["family"], s.get("user", "same"),
                  tuple(sorted((o["name"], o["value"]) for o in s.get("options", []))))
                 for s in self.sockets]
        steps = []
        for s in self.steps:
            d = {k: v for k, v in s.items() if k not in ("label", "line")}
            if "socket" in d:
                d["socket"] = names.get(d["socket"], d["socket"])
            if "receivers" in d:
                d["receivers"] = [names.get(r, r) for r in d["receivers"]]
            steps.append(json.dumps(d, sort_keys=True))
        return (tuple(socks), tuple(steps), tuple(sorted((self.sysctl or {}).items())))


@dataclass
class Scenario:
    name: str
    file: str
    dir: str
    title: str
    ref: str
    why: str
    capture: bool
    axes: dict                      # name -> Axis, in the case file's order
    cases: list = field(default_factory=list)

    @property
    def area(self):
        return self.name.split("/", 1)[0] if "/" in self.name else "(top)"


@dataclass
class Manifest:
    runner_version: str
    selection: dict
    case_set_hash: str
    vocabulary: dict
    scenarios: dict                 # name -> Scenario, in order
    cases: list                     # CaseDef, in order
    by_id: dict
    output: str = None              # --manifest-out: the results file the run writes
    evidence: str = None

    @property
    def partial(self):
        return bool(self.selection.get("partial"))

    def step_results(self):
        """Every word a step result may be: ok, not-run, the runner's own, errno names."""
        words = set(self.vocabulary.get("runner_results") or {}) | {"ok", "not-run"}
        return words | set(self.vocabulary.get("errors") or {})


def _parse(doc, origin):
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ManifestError("%s: not a bindmatrix manifest" % origin)
    if doc.get("schema") != SCHEMA_VERSION:
        raise ManifestError("%s: manifest schema %r, this harness reads %d (rebuild the runner: "
                            "./bindmatrix build)" % (origin, doc.get("schema"), SCHEMA_VERSION))
    try:
        scenarios = {}
        for s in doc["scenarios"]:
            axes = {a["name"]: Axis(a["name"], list(a["values"]), bool(a["matrix"]),
                                    bool(a["varies"])) for a in s["axes"]}
            scenarios[s["scenario"]] = Scenario(
                name=s["scenario"], file=s["file"], dir=s["dir"], title=s.get("title", ""),
                ref=s.get("ref", ""), why=s.get("why", ""), capture=bool(s.get("capture")),
                axes=axes)
        cases, by_id = [], {}
        for c in doc["cases"]:
            cd = CaseDef(id=c["id"], scenario=c["scenario"], axes=dict(c["axes"]),
                         sockets=c["sockets"], steps=c["steps"], sysctl=c.get("sysctl") or {},
                         capture=bool(c.get("capture")))
            cases.append(cd)
            by_id[cd.id] = cd
            scenarios[cd.scenario].cases.append(cd)
    except (KeyError, TypeError) as e:
        raise ManifestError("%s: malformed manifest (%s)" % (origin, e)) from None
    return Manifest(runner_version=doc.get("runner_version", ""),
                    selection=doc.get("selection") or {},
                    case_set_hash=doc.get("case_set_hash", ""),
                    vocabulary=doc.get("vocabulary") or {}, scenarios=scenarios, cases=cases,
                    by_id=by_id, output=doc.get("output"), evidence=doc.get("evidence"))


MAX_BYTES = 512 << 20      # 200,000 cases (a run's most) take about 180 MB


def load(path):
    try:
        text = readfile.read(path, MAX_BYTES, "manifest", pipes=True).decode("utf-8")
        doc = json.loads(text)
    except (readfile.Unreadable, ValueError) as e:
        raise ManifestError("%s: cannot read the manifest: %s" % (path, e)) from None
    where = lone_surrogate(text, doc)
    if where is not None:
        raise ManifestError("%s: field '%s': not text: a lone UTF-16 surrogate" % (path, where))
    return _parse(doc, path)


_cache = {}


class Pending:
    """The runner making a manifest in the background: .result() waits for it.  Lets a
    command read its results files while the runner expands the cases."""

    def __init__(self, runner=None, paths=None, filters=(), cwd=None):
        self.runner = runner or os.environ.get("BINDMATRIX_RUNNER") or DEFAULT_RUNNER
        self.paths = [str(p) for p in (paths or [DEFAULT_CASES])]
        self.key = (self.runner, tuple(self.paths), tuple(filters), cwd)
        self.proc = None
        if self.key in _cache:
            return
        if not os.path.exists(self.runner):
            raise ManifestError("%s: the runner is not built (./bindmatrix build)" % self.runner)
        cmd = [self.runner, "--manifest"]
        for f in filters:
            cmd += ["-f", f]
        # into a file, not a pipe: a pipe holds 64 KiB, and the runner would wait for this
        # process to read it instead of working while this one reads its results files
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd + ["--"] + self.paths, stdout=self.out,
                                     stderr=subprocess.PIPE, cwd=cwd)
        forked.register(self)       # a command cut short ends it too

    def stop(self):
        """Ends the runner if nothing waited for it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.proc.communicate()
        forked.unregister(self)

    def result(self, timeout=120):
        if self.key in _cache:
            return _cache[self.key]
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            self.out.close()
            raise ManifestError("%s --manifest did not finish in %d s" % (self.runner, timeout))
        forked.unregister(self)
        self.out.seek(0)
        out = self.out.read()
        self.out.close()
        if self.proc.returncode != 0:
            raise ManifestError(err.decode("utf-8", "replace").strip()
                                or "%s --manifest exited with %d" % (self.runner,
                                                                     self.proc.returncode))
        try:
            doc = json.loads(out)
        except ValueError as e:
            raise ManifestError("%s --manifest printed no JSON: %s" % (self.runner, e)) from None
        _cache[self.key] = _parse(doc, "%s --manifest" % self.runner)
        return _cache[self.key]


def from_runner(runner=None, paths=None, filters=(), cwd=None):
    """The manifest of the cases under paths (default: the repository's cases/), from the
    runner itself.  One call per distinct argument list per process."""
    return Pending(runner, paths, filters, cwd).result()
