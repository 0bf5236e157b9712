/* bm_testcase.h — shared by the tests that expand case text: expand it, or expect it to be
 * refused with a message naming file, line and field. */
#ifndef BM_TESTCASE_H
#define BM_TESTCASE_H

#include "case_parse.h"
#include "expand.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* Parses and expands text as "mem.yaml" (scenario "tcp/x"); any error fails the test. */
static inline void expand_text(const char *text, struct bm_case_list *list)
{
    struct bm_template t;
    struct bm_error err = {0};

    memset(list, 0, sizeof *list);
    if (case_parse_string(text, "mem.yaml", "tcp/x", &t, &err) || expand_template(&t, list, &err)) {
        char *msg = bm_error_text(&err);
        cr_assert_fail("unexpected error: %s", msg);
    }
    case_template_free(&t);
}

/* The error message for a broken case file must contain needle. */
static inline void expect_error(const char *text, const char *needle)
{
    struct bm_case_list list = {0};
    struct bm_template t;
    struct bm_error err = {0};
    char *msg;
    int rc = case_parse_string(text, "mem.yaml", "tcp/x", &t, &err);

    if (rc == 0) {
        rc = expand_template(&t, &list, &err);
        case_template_free(&t);
    }
    case_list_free(&list);
    cr_assert_neq(rc, 0, "expected an error containing '%s'", needle);
    msg = bm_error_text(&err);
    cr_assert(msg && strstr(msg, needle), "error '%s' does not contain '%s'", msg, needle);
    free(msg);
    bm_error_free(&err);
}

#endif
