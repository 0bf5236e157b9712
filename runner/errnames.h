/* errnames.h — step results as words: symbolic errno names, so results compare across OSes
 * (numbers differ), and the few outcomes the runner makes up itself. */
#ifndef BM_ERRNAMES_H
#define BM_ERRNAMES_H

#include <stdbool.h>

/* Outcomes no syscall returned: negative, so they never collide with an errno (> 0).  The
 * functions that wait or resolve return them like errno values. */
enum {
    BM_R_NOT_RUN = -1,    /* the step was not attempted */
    BM_R_TIMEOUT = -2,    /* a connect or accept the runner waited for did not complete */
    BM_R_NO_SOCKET = -3,  /* the step's socket was closed by an earlier step */
    BM_R_NO_ADDRESS = -4, /* a symbolic address could not be resolved when the step ran */
};

/* "EADDRINUSE" for EADDRINUSE; "EUNKNOWN" (and a note on stderr) for a number not in the
 * table, so results always match ^E[A-Z0-9]+$.  Never returns NULL. */
const char *errno_name(int e);

/* A step's result word: "ok" for 0, the runner's word for a BM_R_* code, else errno_name. */
const char *bm_result_name(int rc);

/* Every errno name bindmatrix knows on any target OS, with whether this build defines it. */
void errno_each(void (*fn)(const char *name, bool defined, void *ctx), void *ctx);

/* The number -> name table of this build (for tests). */
void errno_table_each(void (*fn)(const char *name, int num, void *ctx), void *ctx);

/* The result words the runner makes up (ok, not-run, timeout, ...) with a one-line meaning. */
void bm_result_each(void (*fn)(const char *name, const char *meaning, void *ctx), void *ctx);

#endif
