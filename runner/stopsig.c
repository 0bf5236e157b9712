/* stopsig.c — one list of the signals that stop a run, for the parent, its workers and
 * their capture closers alike. */
#include "stopsig.h"

#include <stddef.h>
#include <string.h>

static const struct {
    int sig;
    const char *name;
} stops[] = {{SIGINT, "SIGINT"}, {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}};

#define NSTOPS (sizeof stops / sizeof stops[0])

void stop_signals_fill(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < NSTOPS; i++)
        sigaddset(set, stops[i].sig);
}

/* SIGINT is caught even when ignored at the start (a script's `cmd &` ignores it): a ^C
 * then still stops the run, as it stops the Python command around it.  SIGHUP ignored is
 * nohup's request to run on. */
static bool kept_ignored(int sig)
{
    struct sigaction now;
    return sig == SIGHUP && sigaction(sig, NULL, &now) == 0 && now.sa_handler == SIG_IGN;
}

void stop_signals_catch(void (*handler)(int), bool restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = restart ? SA_RESTART : 0;
    stop_signals_fill(&sa.sa_mask); /* one handler at a time: a second stop waits */
    for (size_t i = 0; i < NSTOPS; i++)
        if (!kept_ignored(stops[i].sig))
            sigaction(stops[i].sig, &sa, NULL);
}

void stop_signals_default(void)
{
    for (size_t i = 0; i < NSTOPS; i++)
        if (!kept_ignored(stops[i].sig))
            signal(stops[i].sig, SIG_DFL);
}

const char *stop_signal_name(int sig)
{
    for (size_t i = 0; i < NSTOPS; i++)
        if (stops[i].sig == sig)
            return stops[i].name;
    return "a signal";
}
