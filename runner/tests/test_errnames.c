#include "errnames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <regex.h>
#include <string.h>

Test(errnames, common_names)
{
    cr_assert_str_eq(errno_name(EADDRINUSE), "EADDRINUSE");
    cr_assert_str_eq(errno_name(EADDRNOTAVAIL), "EADDRNOTAVAIL");
    cr_assert_str_eq(errno_name(EACCES), "EACCES");
    cr_assert_str_eq(errno_name(EINVAL), "EINVAL");
    cr_assert_str_eq(errno_name(ECONNREFUSED), "ECONNREFUSED");
    cr_assert_str_eq(errno_name(EAGAIN), "EAGAIN"); /* not EWOULDBLOCK: first entry wins */
    cr_assert_str_eq(errno_name(EOPNOTSUPP), "EOPNOTSUPP");
}

Test(errnames, unknown_number_still_matches_the_result_format)
{
    cr_assert_str_eq(errno_name(99999), "EUNKNOWN");
    cr_assert_str_eq(errno_name(-1), "EUNKNOWN");
}

Test(errnames, every_name_matches_the_result_format)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, "^E[A-Z0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
    for (int e = 1; e < 134; e++) /* Linux numbers them densely up to EHWPOISON */
        cr_assert_eq(regexec(&re, errno_name(e), 0, NULL, 0), 0, "errno %d -> %s", e,
                     errno_name(e));
    regfree(&re);
}

/* ---- the vocabulary of every target OS ---- */

struct names {
    const char *name[400];
    bool defined[400];
    size_t n;
};

static void collect(const char *name, bool defined, void *ctx)
{
    struct names *l = ctx;
    cr_assert_lt(l->n, 400);
    l->name[l->n] = name;
    l->defined[l->n++] = defined;
}

static const struct names *all_names(void)
{
    static struct names l;
    if (l.n == 0)
        errno_each(collect, &l);
    return &l;
}

/* -1 when name is not in the list, else whether it is defined here. */
static int listed(const char *name)
{
    const struct names *l = all_names();
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return l->defined[i];
    return -1;
}

static void in_the_list(const char *name, int num, void *ctx)
{
    (void)ctx;
    cr_assert_neq(listed(name), -1, "table name %s (%d) is not in the list of every errno name", name, num);
    cr_assert_eq(listed(name), 1, "%s is in this build's table but listed as not defined", name);
}

Test(errnames, every_table_name_is_in_the_list_and_defined_here)
{
    errno_table_each(in_the_list, NULL);
}

Test(errnames, the_list_covers_the_bsds_and_macos_once_each)
{
    static const char *const elsewhere[] = {
        "EDOOFUS", "EAUTH", "ENEEDAUTH", "EFTYPE", "ENOATTR", "EPROCLIM", "EBADRPC", "ERPCMISMATCH",
        "EPROGUNAVAIL", "EPROGMISMATCH", "EPROCUNAVAIL", "ENOTCAPABLE", "ECAPMODE", "EINTEGRITY",
        "EBADARCH", "EBADEXEC", "EBADMACHO", "ESHLIBVERS", "EDEVERR", "EPWROFF", "ENOPOLICY",
        "EQFULL", "EIPSEC"};
    const struct names *l = all_names();
    regex_t re;

    for (size_t i = 0; i < sizeof elsewhere / sizeof elsewhere[0]; i++)
        cr_assert_neq(listed(elsewhere[i]), -1, "%s", elsewhere[i]);
    cr_assert_eq(listed("EADDRINUSE"), 1);
    cr_assert_eq(listed("ELAST"), -1, "ELAST is a bound, not an errno");
    cr_assert_eq(listed("EUNKNOWN"), -1, "EUNKNOWN is the runner's fallback, not a name an OS has");
#ifndef EDOOFUS
    cr_assert_eq(listed("EDOOFUS"), 0, "not defined on this build");
#endif
    cr_assert_eq(regcomp(&re, "^E[A-Z0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
    for (size_t i = 0; i < l->n; i++) {
        cr_assert_eq(regexec(&re, l->name[i], 0, NULL, 0), 0, "%s", l->name[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(l->name[i], l->name[j], "%s listed twice", l->name[i]);
    }
    regfree(&re);
}

Test(errnames, runner_made_results_are_words_not_errno_names)
{
    cr_assert_str_eq(bm_result_name(0), "ok");
    cr_assert_str_eq(bm_result_name(BM_R_NOT_RUN), "not-run");
    cr_assert_str_eq(bm_result_name(BM_R_TIMEOUT), "timeout");
    cr_assert_str_eq(bm_result_name(BM_R_NO_SOCKET), "no-socket");
    cr_assert_str_eq(bm_result_name(BM_R_NO_ADDRESS), "no-address");
    /* the kernel's own ETIMEDOUT / EAGAIN keep their names */
    cr_assert_str_eq(bm_result_name(ETIMEDOUT), "ETIMEDOUT");
    cr_assert_str_eq(bm_result_name(EAGAIN), "EAGAIN");
}
