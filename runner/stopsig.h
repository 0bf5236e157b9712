/* stopsig.h — the signals that stop a run in order: SIGINT (a ^C), SIGTERM (kill, a CI job
 * cancelled, timeout(1)) and SIGHUP (the terminal closed, the ssh session dropped).  A
 * SIGHUP ignored when the runner started (nohup) stays ignored: the run goes on. */
#ifndef BM_STOPSIG_H
#define BM_STOPSIG_H

#include <signal.h>
#include <stdbool.h>

/* The stop signals, in a set (to block them across a critical part or a fork). */
void stop_signals_fill(sigset_t *set);

/* handler for each stop signal not ignored under nohup; restart: SA_RESTART (system calls
 * go on after it) or not (poll() returns at once, so the caller sees the stop). */
void stop_signals_catch(void (*handler)(int), bool restart);

/* Their default action back, in a child that must simply die of them (what was ignored
 * stays ignored). */
void stop_signals_default(void);

/* "SIGINT", "SIGTERM" or "SIGHUP": the name the results record. */
const char *stop_signal_name(int sig);

#endif
