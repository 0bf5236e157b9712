/* libFuzzer target: the fuzzer's bytes as a case.yaml, parsed, counted, expanded and turned
 * into the manifest, as the runner does with a case file.  Every input must end in a case
 * list or an error naming file and line: no crash, leak, hang or undefined behaviour. */
#include "case_parse.h"
#include "expand.h"
#include "manifest.h"
#include "selection.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Expanding is the slow part (about 12 KB per case): past this the fuzzer only counts. */
#define FUZZ_MAX_EXPAND 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
            expand_template(&t, &list, &err) == 0)
            json_decref(manifest_json(&list, &sel, NULL, NULL));
        case_template_free(&t);
    }
    msg = bm_error_text(&err);
    free(msg);
    bm_error_free(&err);
    case_list_free(&list);
    free(text);
    return 0;
}
