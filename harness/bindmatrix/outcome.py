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

from .compare import delivery_class, step_delivery

SEP = " · "


def is_precondition(step):
    """A `state` step that held is the verified starting point, not part of the outcome."""
    return step["op"] == "state" and step["result"] == "ok"


def delivery_classes(case, step):
    """{receiver: class} for a deliver step that ran, else None."""
    if step["result"] != "ok":
        return None
    delivery = step_delivery(case, step)
    if delivery is None:
        return None
    sent = delivery["sent"]
    return {r: delivery_class(n, sent) for r, n in delivery["received"].items()}


def outcome_steps(case):
    """[(label, result, classes-or-None)] of the steps that make the outcome."""
    out = []
    for step in case.get("steps") or []:
        if is_precondition(step):
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


def steps(case):
    """[(label, shown)] for an observed case's outcome steps (full labels)."""
    return [(label, show_step(result, classes))
            for label, result, classes in outcome_steps(case)]


def join(pairs):
    if not pairs:
        return "(no steps)"
    names = short_labels([label for label, _ in pairs])
    return SEP.join("%s %s" % (name, shown) for name, (_, shown) in zip(names, pairs))


def text(case):
    """Compact text for a matrix cell."""
    if case["status"] != "observed":
        return case["status"]
    return join(steps(case))


# ---- expectations ---------------------------------------------------------------------

def expected_steps(rule, labels=None):
    """[(label, shown)] of a rule's expectation, in the case's step order when labels (the
    case's outcome step labels) are given."""
    if rule.expects_skip:
        return []
    order = [label for label in (labels or []) if label in rule.expect]
    order += [label for label in rule.expect if label not in order]
    out = []
    for label in order:
        exp = rule.expect[label]
        out.append((label, show_classes(exp) if isinstance(exp, dict) else str(exp)))
    return out


def expected_text(rule, labels=None):
    if rule.expects_skip:
        return "skipped"
    return join(expected_steps(rule, labels))


def rule_has_unknown(rule, labels=None):
    """True when the rule leaves a step of this case (or a receiver) as "?"."""
    for label, exp in rule.expect.items():
        if labels is not None and label not in labels:
            continue
        if exp == "?" or (isinstance(exp, dict) and "?" in exp.values()):
            return True
    return False
