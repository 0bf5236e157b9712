/* names.h — the symbolic names of the case format, one table each (NULL-terminated, indexed
 * by the matching enum of model.h), shared by the parser, the results and the manifest. */
#ifndef BM_NAMES_H
#define BM_NAMES_H

extern const char *const bm_op_names[];      /* enum bm_op */
extern const char *const bm_state_names[];   /* enum bm_state */
extern const char *const bm_proto_names[];   /* enum bm_proto */
extern const char *const bm_family_names[];  /* enum bm_family */
extern const char *const bm_user_names[];    /* enum bm_user */
extern const char *const bm_status_names[];  /* enum bm_status */
extern const char *const bm_tw_proof_names[]; /* enum bm_tw_proof, as the run record says it */
extern const char *const bm_from_names[];    /* deliver from: */
extern const char *const bm_address_names[]; /* symbolic addresses a case may write */

#endif
