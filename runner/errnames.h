/* errnames.h — symbolic errno names, so results compare across OSes (numbers differ). */
#ifndef BM_ERRNAMES_H
#define BM_ERRNAMES_H

/* "EADDRINUSE" for EADDRINUSE; "EUNKNOWN" (and a note on stderr) for a number not in the
 * table, so results always match ^E[A-Z0-9]+$.  Never returns NULL. */
const char *errno_name(int e);

#endif
