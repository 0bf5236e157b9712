"""Runner arguments that a command hands on (test, bench, kernels), checked before anything
starts.

A typo in them (`-f tcp/bind-confict`, `--jobz 2`) would otherwise surface only once the
runner runs: after 20 s of self-tests (test), or in every guest after its boot (kernels).  The
runner is the one judge of its own options: it is asked to list the cases with them.

  refused(runner, cases, args, own=()) -> None, or why the arguments cannot be used
  output_of(args)                       -> the results file -o/--output names, or None
"""

import subprocess


def refused(runner, cases, args, own=()):
    """None when the runner takes args and they select at least one case; else a message.
    own: options the command sets itself (given again, they would fight over one setting)."""
    for a in args:
        for name in own:
            if _names(a, name):
                return "%s is set by this command itself (it sets %s)" % (name, ", ".join(own))
    try:
        proc = subprocess.run([runner, "--cases-default", cases, "--list"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, errors="replace", timeout=60)
    except OSError as e:
        return "cannot start the runner %s: %s" % (runner, e.strerror or e)
    except subprocess.TimeoutExpired:
        return "the runner did not list the cases within 60 s"
    if proc.returncode != 0:
        # what it said, without the usage text that follows an unknown option
        said = []
        for line in proc.stderr.strip().splitlines():
            if line.startswith("usage:"):
                break
            said.append(line.strip())
        return "; ".join(said) or "the runner refused them (exit %d)" % proc.returncode
    if not proc.stdout.strip():
        return "no case matches (%s)" % " ".join(args)
    return None


def _names(arg, option):
    """Whether the argument arg gives option: --output or --output=FILE; -o or -oFILE."""
    if option.startswith("--"):
        return arg == option or arg.startswith(option + "=")
    return arg.startswith(option) and not arg.startswith("--")


def output_of(args):
    """The results file -o/--output names among the runner's arguments (the last), or None."""
    out = None
    for i, a in enumerate(args):
        if a in ("-o", "--output"):
            out = args[i + 1] if i + 1 < len(args) else None
        elif _names(a, "--output"):
            out = a[len("--output="):]
        elif _names(a, "-o"):
            out = a[2:]
    return out
