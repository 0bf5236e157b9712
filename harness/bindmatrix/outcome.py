"""A case's outcome as a comparable value and as compact text.

The outcome of an observed case is what its non-precondition steps returned: each step's
result (ok, an errno name, not-run) and, for a delivery probe, each receiver's delivery class
(all / none / some, as compare.py computes it).  Ports, addresses, counts within a class and
durations never count: they differ between every two runs.

  signature(case)  -> hashable value; two cases behaved the same iff their signatures are equal
  steps(case)      -> [(label, shown)] for the steps that make the outcome
  text(case)       -> "bind EADDRINUSE · listen not-run", "bind ok · deliver a:none b:all",
                      "skipped", "error"
  expected_steps(rule, labels) / expected_text(...): the same for an expectation rule
"""

from .judge import delivery_class, is_precondition as _precondition, show_one, step_delivery

SEP = " · "


def is_precondition(step, casedef=None):
    """A precondition that held is the verified starting point, not part of the outcome."""
    return _precondition(step, casedef) and step["result"] == "ok"


def delivery_classes(case, step):
    """{receiver: class} for a deliver step that ran, else None."""
    if step["result"] != "ok":
        return None
    delivery = step_delivery(case, step)
    if delivery is None:
        return None
    sent = delivery["sent"]
    return {r: delivery_class(n, sent) for r, n in delivery["received"].items()}


def outcome_steps(case, casedef=None):
    """[(label, result, classes-or-None)] of the steps that make the outcome."""
    out = []
    for step in case.get("steps") or []:
        if is_precondition(step, casedef):
            continue
        out.append((step["label"], step["result"], delivery_classes(case, step)))
    return out


def signature(case):
    """Equal for two cases exactly when they had the same outcome."""
    if case["status"] != "observed":
        return (case["status"],)
    return ("observed",) + tuple(
        (label, result, tuple(sorted(classes.items())) if classes else None)
        for label, result, classes in outcome_steps(case))


def show_classes(classes):
    return " ".join("%s:%s" % (r, c) for r, c in classes.items())


def show_step(result, classes):
    """What a step shows: its result, or for a delivery that ran, who received."""
    if classes is not None:
        return show_classes(classes) or "ok (no receivers)"
    return result


def short_labels(labels):
    """Drop the socket prefix ("b.bind" -> "bind") when that leaves every name unique."""
    short = [label.split(".", 1)[1] if "." in label else label for label in labels]
    return short if len(set(short)) == len(short) else list(labels)


def steps(case, osteps=None):
    """[(label, shown)] for an observed case's outcome steps (full labels); osteps: its
    outcome_steps() when already computed."""
    return [(label, show_step(result, classes))
            for label, result, classes in (outcome_steps(case) if osteps is None else osteps)]


def join(pairs):
    if not pairs:
        return "(no steps)"
    names = short_labels([label for label, _ in pairs])
    return SEP.join("%s %s" % (name, shown) for name, (_, shown) in zip(names, pairs))


def text(case, osteps=None):
    """Compact text for a matrix cell."""
    if case["status"] != "observed":
        return case["status"]
    return join(steps(case, osteps))


# ---- expectations ---------------------------------------------------------------------

def expected_steps(rule, labels=None):
    """[(label, shown)] of a rule's expectation, in the case's step order when labels (the
    case's outcome step labels) are given."""
    if rule.status is not None:
        return []
    order = [label for label in (labels or []) if label in rule.expect]
    order += [label for label in rule.expect if label not in order]
    out = []
    for label in order:
        exp = rule.expect[label]
        out.append((label, " ".join("%s:%s" % (r, show_one(c)) for r, c in exp.items())
                    if isinstance(exp, dict) else show_one(exp)))
    return out


def expected_text(rule, labels=None):
    if rule.status is not None:
        return rule.status
    return join(expected_steps(rule, labels))


# ---- views: an outcome as data, for claims and for comparing hosts ----------------------

def observed_view(case, casedef=None, osteps=None):
    """{status, steps: {label: result}, delivery: {label: {recv: class}}}."""
    view = {"status": case["status"], "steps": {}, "delivery": {}}
    for label, result, classes in (outcome_steps(case, casedef) if osteps is None else osteps):
        view["steps"][label] = result
        if classes is not None:
            view["delivery"][label] = dict(classes)
    return view


def rule_view(rule, labels):
    """The same shape from an expectation: "?" stays "?" (unknown), a list of acceptable
    results stays a list (any of them)."""
    if rule.status is not None:
        return {"status": rule.status, "steps": {}, "delivery": {}}
    view = {"status": "observed", "steps": {}, "delivery": {}}
    for label in labels or rule.expect:
        exp = rule.expect.get(label, "?")
        if isinstance(exp, dict):
            view["steps"][label] = "ok"
            view["delivery"][label] = {r: (c if not isinstance(c, int) or isinstance(c, bool)
                                           else "?") for r, c in exp.items()}
        else:
            view["steps"][label] = exp
    return view


def _values(v):
    """The set a view value may be; None for unknown."""
    if v == "?":
        return None
    return set(v) if isinstance(v, list) else {v}


def values_conflict(x, y):
    a, b = _values(x), _values(y)
    return a is not None and b is not None and not (a & b)


def views_conflict(a, b):
    """Two outcome views differ in something both know."""
    if a is None or b is None:
        return False
    if a["status"] != b["status"]:
        return a["status"] in ("observed", "skipped") and b["status"] in ("observed", "skipped")
    if a["status"] != "observed":
        return False
    for label in set(a["steps"]) & set(b["steps"]):
        if values_conflict(a["steps"][label], b["steps"][label]):
            return True
    for label in set(a["delivery"]) & set(b["delivery"]):
        da, db = a["delivery"][label], b["delivery"][label]
        for recv in set(da) & set(db):
            if values_conflict(da[recv], db[recv]):
                return True
    return False
