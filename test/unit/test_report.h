/*
 * test_report.h - pass/fail bookkeeping shared by the kernel unit tests.
 *
 * report() prints one `ok - ...` or `not ok - ...` line per check;
 * report_summary() prints the closing `N passed, N failed` line that
 * test/all.sh counts and returns the program's exit status.  Header-only;
 * each program has its own counters.
 */
#ifndef BRAINY_TEST_REPORT_H
#define BRAINY_TEST_REPORT_H

#include <stdio.h>

static int	n_passed = 0;
static int	n_failed = 0;

static void
report(int ok, const char *desc, const char *details)
{
	if (ok)
	{
		n_passed++;
		printf("ok - %s\n", desc);
	}
	else
	{
		n_failed++;
		printf("not ok - %s %s\n", desc, details);
	}
}

static inline int
report_summary(void)
{
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}

#endif							/* BRAINY_TEST_REPORT_H */
