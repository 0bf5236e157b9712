/* The in-process floor (floor.c): each kind observes what its case observes, and takes
 * a measurable, positive time. */
#include "bm_testenv.h"
#include "floor.h"

#include <criterion/criterion.h>

static struct bm_env env;

static void setup(void)
{
    bm_test_sandbox(&env);
}

Test(floor, both_kinds_observe_their_refusal_and_take_time, .init = setup)
{
    struct bm_floor fl = {0};
    char why[256] = "";

    cr_assert_eq(floor_measure(20, &fl, why, sizeof why), 0, "%s", why);
    cr_assert_gt(fl.bind_conflict_us, 0.0);
    cr_assert_gt(fl.time_wait_us, 0.0);
    /* a connection's setup and teardown cost more than two binds */
    cr_assert_gt(fl.time_wait_us, fl.bind_conflict_us);
}

Test(floor, no_repetitions_is_refused, .init = setup)
{
    struct bm_floor fl;
    char why[256] = "";

    cr_assert_eq(floor_measure(0, &fl, why, sizeof why), -1);
}
