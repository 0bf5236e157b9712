/* libFuzzer target: the fuzzer's bytes as a case.yaml, parsed, counted, expanded and turned
 * into the manifest and result lines, as the runner does with a case file.  Every input must end in a case
 * list or an error naming file and line: no crash, leak, hang or undefined behaviour. */
#include "case_parse.h"
#include "expand.h"
#include "manifest.h"
#include "results.h"
#include "selection.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Expanding is the slow part (about 12 KB per case): past this the fuzzer only counts. */
#define FUZZ_MAX_EXPAND 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text the runner writes without a tree is jansson's text for it (jsonw.h): any
 * difference is a crash the fuzzer keeps. */
static void as_jansson_writes(char *text, size_t flags)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    char *again = j ? json_dumps(j, flags) : NULL;

    if (!text || !again || strcmp(text, again) != 0)
        abort();
    free(again);
    json_decref(j);
    free(text);
}

static void each_case_written(const struct bm_case_list *list)
{
    static struct bm_outcome none;  /* every step not run */

    for (size_t i = 0; i < list->n; i++) {
        as_jansson_writes(manifest_case_text(&list->items[i], true), JSON_COMPACT | JSON_SORT_KEYS);
        as_jansson_writes(results_case_line(&list->items[i], &none, NULL),
                          JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *msg;
    struct bm_template t;
    struct bm_error err = {0};
    struct bm_case_list list = {0};
    const char *paths[] = {"fuzz"}, *dir = "fuzz";
    struct bm_selection sel;
    size_t n;

    selection_init(&sel, paths, 1, &dir, NULL, 0);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (case_parse_string(text, "fuzz/case.yaml", "fuzz", &t, &err) == 0) {
        if (expand_count(&t, &n, &err) == 0 && n <= FUZZ_MAX_EXPAND &&
            expand_template(&t, &list, &err) == 0) {
            json_decref(manifest_json(&list, &sel, NULL, NULL));
            each_case_written(&list);
        }
        case_template_free(&t);
    }
    msg = bm_error_text(&err);
    free(msg);
    bm_error_free(&err);
    case_list_free(&list);
    free(text);
    return 0;
}
