#include "errnames.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <regex.h>

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
