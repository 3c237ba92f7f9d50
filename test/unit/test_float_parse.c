/*
 * test_float_parse.c - unit test of brainy_parse_float().
 *
 * The fast parser must agree with strtof() bit for bit: same value, same
 * end position, same overflow report.  Checked on hand-picked edge cases and
 * on a large number of random decimal strings.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "float_parse.h"

static int passed;
static int failed;

/* Compare brainy_parse_float with strtof on s; report mismatches. */
static int
agrees_with_strtof(const char *s, int verbose)
{
	float		fast = 12345.0f;
	float		ref;
	int			range_error;
	const char *fast_end = brainy_parse_float(s, &fast, &range_error);
	char	   *ref_end;
	int			ref_range;
	uint32_t	fast_bits;
	uint32_t	ref_bits;

	errno = 0;
	ref = strtof(s, &ref_end);
	ref_range = (errno == ERANGE && isinf(ref));
	if (ref_end == s)
	{
		if (fast_end == s)
			return 1;
		if (verbose)
			printf("not ok - \"%s\": strtof parses nothing, fast parser consumed %d chars\n",
				   s, (int) (fast_end - s));
		return 0;
	}
	memcpy(&fast_bits, &fast, 4);
	memcpy(&ref_bits, &ref, 4);
	if (fast_end != ref_end || fast_bits != ref_bits || range_error != ref_range)
	{
		if (verbose)
			printf("not ok - \"%s\": fast %a (end %d, range %d) vs strtof %a (end %d, range %d)\n",
				   s, fast, (int) (fast_end - s), range_error,
				   ref, (int) (ref_end - s), ref_range);
		return 0;
	}
	return 1;
}

static void
check(int ok, const char *desc)
{
	if (ok)
	{
		passed++;
		printf("ok - %s\n", desc);
	}
	else
	{
		failed++;
		printf("not ok - %s\n", desc);
	}
}

static const char *const edge_cases[] = {
	"0", "-0", "+0", "0.0", "-0.0", "1", "-1", "255", "0.5", ".5", "5.",
	"-.5", "1e10", "1e-10", "1E5", "1e+5", "-3e-2", "3.14159", "2.5]",
	"1,2", "1e", "1e+", "1e-", "1.e5", ".e5", ".", "-", "+", "e5", "",
	"16777216", "16777217", "16777215", "0.1", "0.2", "0.3", "123456789",
	"1234567890123456789", "12345678901234567890123", "0.000001",
	"3.4028235e38", "3.4028236e38", "3.5e38", "1e39", "-1e39", "1e-45",
	"1e-46", "1.4e-45", "1e-50", "0e999999", "1e999999", "-1e999999",
	"0x10", "0X1p3", "-0x1.8p1", "inf", "-inf", "Infinity", "nan", "NaN",
	"00000000000000000000000001", "0.00000000000000000000000001",
	"1.00000000000000000000000", "9999999", "99999999", "0.33333334",
	"7e10", "7e11", "1e-11", "4294967296", "123.456e-3", "1_0", "1 ",
	NULL
};

int
main(void)
{
	int			edge_bad = 0;
	int			random_bad = 0;
	char		buf[64];
	uint64_t	state = 0x9E3779B97F4A7C15ULL;

	for (int i = 0; edge_cases[i] != NULL; i++)
		if (!agrees_with_strtof(edge_cases[i], 1))
			edge_bad++;
	check(edge_bad == 0, "edge cases agree with strtof bit for bit");

	/* random decimals: 1-12 digits, optional point, optional exponent */
	for (int i = 0; i < 2000000; i++)
	{
		char	   *p = buf;
		int			ndigits;
		int			point;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		ndigits = 1 + (int) (state % 12);
		point = (int) ((state >> 8) % (ndigits + 2)) - 1;
		if ((state >> 20) & 1)
			*p++ = '-';
		for (int d = 0; d < ndigits; d++)
		{
			if (d == point)
				*p++ = '.';
			*p++ = (char) ('0' + ((state >> (24 + d * 3)) % 10));
		}
		if (((state >> 62) & 3) == 0)
			p += sprintf(p, "e%d", (int) ((state >> 40) % 90) - 45);
		*p = '\0';
		if (!agrees_with_strtof(buf, random_bad < 10))
			random_bad++;
	}
	check(random_bad == 0, "2,000,000 random decimal strings agree with strtof");

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
