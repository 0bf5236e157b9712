"""The signals that stop a command, the same as stop the runner (runner/stopsig.c): SIGINT
(a ^C), SIGTERM (`kill PID`, a cancelled CI job, `timeout`) and SIGHUP (the terminal closed,
the ssh session dropped).  A SIGHUP ignored when the command started (nohup) stays ignored:
the command runs on, as the user asked."""

import signal

# what a command says on the way out, after what it stopped has said what it kept
SAID = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
        signal.SIGHUP: "hung up (SIGHUP)"}


class Terminated(KeyboardInterrupt):
    """A SIGTERM or SIGHUP, raised where this process was: a KeyboardInterrupt, so that no
    `except Exception` swallows it and what stops cleanly on a ^C (pytest's run) stops on
    it alike.  .signum says which."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise(signum, _frame):
    raise Terminated(signum)


def caught():
    """The stop signals this process handles: all three, but a SIGHUP it started ignoring."""
    return [sig for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
            if sig != signal.SIGHUP or signal.getsignal(sig) != signal.SIG_IGN]


def catch():
    """Each stop signal unwinds this process: a ^C as KeyboardInterrupt, the others as
    Terminated.  SIGINT is caught however the process started: a script's background job
    (`cmd &`) starts with it ignored, which Python keeps, and a run then judged its results
    to the end although its runner (which handles SIGINT itself) had stopped at once."""
    for sig in caught():
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else _raise)


def code_of(stop):
    """The exit status for a KeyboardInterrupt or Terminated: 128 + the signal."""
    return 128 + (stop.signum if isinstance(stop, Terminated) else signal.SIGINT)


def said(stop):
    return SAID[stop.signum if isinstance(stop, Terminated) else signal.SIGINT]
