/* floor.h — the in-process floor of a case: the least a program must do to observe what a
 * bind-conflict case and a TIME_WAIT case observe, measured here with bare socket calls and
 * nothing of the runner around them (no case, no worker, no checks, no result line).
 * `bindmatrix-runner --floor N` prints it; `./bindmatrix bench` compares the runner with it. */
#ifndef BM_FLOOR_H
#define BM_FLOOR_H

#include <stddef.h>

struct bm_floor {
    double bind_conflict_us;    /* median: a listener on 127.0.0.1, a second bind refused */
    double time_wait_us;        /* median: a loopback connection closed actively, then a
                                   bind over the port in TIME_WAIT refused */
};

/* reps repetitions of each, on loopback in the current network namespace; 0, or -1 with
 * why[] said (a call that did not answer as it must). */
int floor_measure(int reps, struct bm_floor *out, char *why, size_t whylen);

#endif
