"""The upgrade gate: two result sets of one OS (before and after an OS or kernel upgrade)
compared case by case.

Each case id present in either file is classified:

  unchanged      the same outcome (ports, addresses, durations and counts within a delivery
                 class never count)
  changed        observed in both, with different step results or delivery classes
  new            only in the candidate
  removed        only in the baseline
  newly-skipped  observed (or error) before, skipped now
  newly-error    observed (or skipped) before, error now
  fixed          skipped or error before, observed now

By default changed, removed, newly-skipped and newly-error close the gate; new and fixed are
reported only.  An allowlist accepts individual differences, each with its reason:

  - case: "tcp/bind-conflict[*relation=same*"     # an id, or a glob (* and ?; [ ] literal)
    change: changed                                # a class, a list of them, or any
    to: "bind ok · listen ok"                      # optional: only this new outcome
    reason: "6.8: bhash2 fix d91ef1e1b55f, reviewed in #123"

Entries that accept nothing are reported, so an allowlist does not silently outlive the
change it was written for.
"""

from dataclasses import dataclass, field

from .expectations import ExpectationError
from .yamlio import LineDict, field_problem, load_yaml
from .ids import match_id
from .outcome import outcome_steps, show_step, signature, text

CLASSES = ("changed", "new", "removed", "newly-skipped", "newly-error", "fixed")
DEFAULT_GATING = ("changed", "removed", "newly-skipped", "newly-error")
ALLOW_KEYS = ("case", "record", "change", "to", "reason")

# What of the run records is compared: (field, whether a change closes the gate).  A change
# of what the outcomes mean (another case set, sysctl, privilege or implementation) closes
# it; the rest is said, since it explains a difference, but does not.
RECORD_FIELDS = (
    ("case_set_hash", True),        # the cases are not the same cases
    ("sysctls", True),              # per sysctl: the values the workers ran with
    ("host_sysctls", True),         # per sysctl: the host's own values
    ("privileged", True),
    ("stack", True),                # kernel, gvisor ...
    ("partial", True),
    ("isolation", False),
    ("runner_version", False),
    ("os_release", False),          # the upgrade itself
    ("degraded", False),            # per capability: what the sandbox could not set up
)


class AllowlistError(ExpectationError):
    """Problems in an allowlist file, each 'file:line: message'."""


@dataclass
class Allow:
    case: str                  # a case id or glob; "" for an entry about the run records
    changes: tuple             # classes it accepts
    reason: str
    to: str = None
    path: str = ""
    line: int = 0
    used: int = 0
    record: str = ""           # a run-record field ("privileged", "sysctls.net.ipv6...")

    @property
    def location(self):
        return "%s:%d" % (self.path, self.line)


@dataclass
class Difference:
    case: str
    kind: str
    before: str = ""
    after: str = ""
    steps: list = field(default_factory=list)     # [(label, before, after)]
    reason_before: str = ""
    reason_after: str = ""
    gating: bool = False
    allowed_by: object = None                     # Allow

    @property
    def blocking(self):
        return self.gating and self.allowed_by is None

    def to_json(self):
        d = {"case": self.case, "class": self.kind, "before": self.before,
             "after": self.after, "gating": self.gating, "blocking": self.blocking}
        if self.steps:
            d["steps"] = [{"label": s[0], "before": s[1], "after": s[2]} for s in self.steps]
        if self.reason_before:
            d["reason_before"] = self.reason_before
        if self.reason_after:
            d["reason_after"] = self.reason_after
        if self.allowed_by is not None:
            d["allowed_by"] = {"at": self.allowed_by.location,
                               "reason": self.allowed_by.reason}
        return d


def load_allowlist(path):
    path = str(path)
    doc = load_yaml(path)
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise AllowlistError(["%s:%d: an allowlist is a list of entries (- case: ..., "
                              "change: ..., reason: ...)"
                              % (path, doc.line if isinstance(doc, LineDict) else 1)])
    problems, out = [], []
    for i, raw in enumerate(doc):
        line = raw.line if isinstance(raw, LineDict) else 0
        if not isinstance(raw, dict):
            problems.append("%s:%d: entry %d: a mapping with case, change and reason"
                            % (path, line, i + 1))
            continue
        for key in raw:
            if key not in ALLOW_KEYS:
                problems.append(field_problem(path, raw.line_of(key), key, "unknown key (keys: %s)"
                                              % ", ".join(ALLOW_KEYS)))
        case, record = raw.get("case"), raw.get("record")
        if (case is None) == (record is None):
            problems.append("%s:%d: field 'case': give a case (an id or a glob) or a record "
                            "(a run-record field such as sysctls.net.ipv6.bindv6only), one "
                            "of them" % (path, line))
        elif case is not None and (not isinstance(case, str) or not case.strip()):
            problems.append("%s:%d: field 'case': a case id or a glob" % (path, line))
        elif record is not None and (not isinstance(record, str) or
                                     record.split(".", 1)[0] not in dict(RECORD_FIELDS)):
            problems.append("%s:%d: field 'record': %r is not a run-record field (%s)"
                            % (path, raw.line_of("record"), record,
                               ", ".join(f for f, _ in RECORD_FIELDS)))
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            problems.append("%s:%d: field 'reason': is required: say why this change is "
                            "accepted (a kernel commit, a ticket, a review)"
                            % (path, raw.line_of("reason") if "reason" in raw else line))
        change = raw.get("change", "any")
        changes = change if isinstance(change, list) else [change]
        if changes == ["any"]:
            changes = list(CLASSES)
        bad = [c for c in changes if c not in CLASSES]
        if bad or not changes:
            problems.append("%s:%d: field 'change': %r is not one of: %s, any"
                            % (path, raw.line_of("change") if "change" in raw else line,
                               bad[0] if bad else change, ", ".join(CLASSES)))
        to = raw.get("to")
        if to is not None and not isinstance(to, str):
            problems.append("%s:%d: field 'to': the new outcome as the diff prints it, in "
                            "quotes" % (path, raw.line_of("to")))
        out.append(Allow(case=str(case or "").strip(), changes=tuple(changes),
                         reason=" ".join(str(reason or "").split()), to=to, path=path,
                         line=line, record=str(record or "").strip()))
    if problems:
        raise AllowlistError(problems)
    return out


def _step_changes(before, after):
    """[(label, before, after)] for the outcome steps that differ."""
    b = {label: show_step(result, classes) for label, result, classes in outcome_steps(before)}
    a = {label: show_step(result, classes) for label, result, classes in outcome_steps(after)}
    out = []
    for label in list(b) + [label for label in a if label not in b]:
        x, y = b.get(label, "(no such step)"), a.get(label, "(no such step)")
        if x != y:
            out.append((label, x, y))
    return out


def classify(base_case, cand_case):
    """The class of one case's change, or None when nothing changed."""
    if base_case is None:
        return "new"
    if cand_case is None:
        return "removed"
    b, a = base_case["status"], cand_case["status"]
    if b == a == "observed":
        return "changed" if signature(base_case) != signature(cand_case) else None
    if b == a:
        return None
    if a == "skipped":
        return "newly-skipped"
    if a == "error":
        return "newly-error"
    return "fixed"


def diff(baseline, candidate, gating=DEFAULT_GATING):
    """[Difference] between two ResultSets, in baseline order then new cases."""
    out = []
    ids = [c["id"] for c in baseline.cases]
    ids += [c["id"] for c in candidate.cases if c["id"] not in baseline.by_id]
    for cid in ids:
        b, a = baseline.by_id.get(cid), candidate.by_id.get(cid)
        kind = classify(b, a)
        if kind is None:
            continue
        d = Difference(case=cid, kind=kind, before=text(b) if b else "(absent)",
                       after=text(a) if a else "(absent)", gating=kind in gating)
        if b is not None and a is not None and b["status"] == a["status"] == "observed":
            d.steps = _step_changes(b, a)
        if b is not None and b["status"] != "observed":
            d.reason_before = b.get("reason", "")
        if a is not None and a["status"] != "observed":
            d.reason_after = a.get("reason", "")
        out.append(d)
    return out


@dataclass
class RecordDifference:
    """A field of the run records that differs between baseline and candidate."""
    field: str                 # "privileged", "sysctls.net.ipv6.bindv6only" ...
    before: str
    after: str
    gating: bool
    allowed_by: object = None

    @property
    def blocking(self):
        return self.gating and self.allowed_by is None

    def to_json(self):
        d = {"field": self.field, "before": self.before, "after": self.after,
             "gating": self.gating, "blocking": self.blocking}
        if self.allowed_by is not None:
            d["allowed_by"] = {"at": self.allowed_by.location,
                               "reason": self.allowed_by.reason}
        return d


def _shown(value):
    if value is None:
        return "(absent)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def record_differences(base, cand):
    """[RecordDifference] between two run records, mappings compared key by key."""
    out = []
    for name, gating in RECORD_FIELDS:
        b, a = base.get(name), cand.get(name)
        if isinstance(b, dict) or isinstance(a, dict):
            b, a = b or {}, a or {}
            for key in sorted(set(b) | set(a)):
                if b.get(key) != a.get(key):
                    out.append(RecordDifference("%s.%s" % (name, key), _shown(b.get(key)),
                                                _shown(a.get(key)), gating))
        elif b != a:
            out.append(RecordDifference(name, _shown(b), _shown(a), gating))
    return out


def apply_allowlist(differences, allows):
    for d in differences:
        for allow in allows:
            if isinstance(d, RecordDifference):
                if allow.record and (allow.record == d.field or
                                     d.field.startswith(allow.record + ".")) and \
                        (allow.to is None or str(allow.to) == d.after):
                    d.allowed_by = allow
                    allow.used += 1
                    break
                continue
            if allow.record:
                continue
            if d.kind in allow.changes and match_id(allow.case, d.case) and \
                    (allow.to is None or " ".join(allow.to.split()) == d.after):
                d.allowed_by = allow
                allow.used += 1
                break
    return [a for a in allows if a.used == 0]


def counts(differences, total):
    c = {k: 0 for k in CLASSES}
    for d in differences:
        c[d.kind] += 1
    c["unchanged"] = total - sum(c[k] for k in CLASSES if k != "new") \
        if total is not None else None
    return c
