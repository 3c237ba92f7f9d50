/*
 * float_parse.c - fast float4 parsing for vector text input.
 *
 * Owns brainy_parse_float().  Vector text input is dominated by number
 * parsing, and most numbers are short decimals ("0.25", "-3e-2", "255").
 * When the decimal significand m fits in 24 bits and the decimal exponent e
 * is within [-10, 10], both m and 10^|e| are exact floats, so one IEEE float
 * multiplication or division gives the correctly rounded result (Clinger's
 * fast path).  Everything else is handed to strtof(), which is the reference.
 */
#include "float_parse.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static const float exact_powers_of_ten[] = {
	1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f
};

#define FAST_MAX_SIGNIFICAND	(UINT64_C(1) << 24)
#define FAST_MAX_EXP10			10
#define MAX_SIGNIFICANT_DIGITS	19

static const char *
parse_with_strtof(const char *s, float *out, int *range_error)
{
	char	   *end;
	float		value;

	errno = 0;
	value = strtof(s, &end);
	*range_error = (errno == ERANGE && isinf(value)) ? 1 : 0;
	if (end == s)
		return s;
	*out = value;
	return end;
}

const char *
brainy_parse_float(const char *s, float *out, int *range_error)
{
	const char *p = s;
	int			negative = 0;
	uint64_t	m = 0;
	int			sig_digits = 0;
	int			any_digit = 0;
	int			exp10 = 0;
	float		value;

	*range_error = 0;
	if (*p == '+' || *p == '-')
	{
		negative = (*p == '-');
		p++;
	}
	/* hexadecimal, "inf", "nan" and the like: leave them to strtof */
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		return parse_with_strtof(s, out, range_error);

	for (; *p >= '0' && *p <= '9'; p++)
	{
		any_digit = 1;
		if (m == 0 && *p == '0')
			continue;			/* leading zero: not significant */
		if (++sig_digits > MAX_SIGNIFICANT_DIGITS)
			return parse_with_strtof(s, out, range_error);
		m = m * 10 + (uint64_t) (*p - '0');
	}
	if (*p == '.')
	{
		for (p++; *p >= '0' && *p <= '9'; p++)
		{
			any_digit = 1;
			exp10--;
			if (m == 0 && *p == '0')
				continue;
			if (++sig_digits > MAX_SIGNIFICANT_DIGITS)
				return parse_with_strtof(s, out, range_error);
			m = m * 10 + (uint64_t) (*p - '0');
		}
	}
	if (!any_digit)
		return parse_with_strtof(s, out, range_error);

	if (*p == 'e' || *p == 'E')
	{
		const char *q = p + 1;
		int			exp_negative = 0;
		int			e = 0;

		if (*q == '+' || *q == '-')
		{
			exp_negative = (*q == '-');
			q++;
		}
		if (*q >= '0' && *q <= '9')
		{
			for (; *q >= '0' && *q <= '9'; q++)
			{
				if (e > 1000)
					return parse_with_strtof(s, out, range_error);
				e = e * 10 + (*q - '0');
			}
			exp10 += exp_negative ? -e : e;
			p = q;
		}
		/* else "1e" or "1e+": strtof stops before the 'e' too */
	}

	if (m == 0)
		value = 0.0f;
	else if (m <= FAST_MAX_SIGNIFICAND &&
			 exp10 >= -FAST_MAX_EXP10 && exp10 <= FAST_MAX_EXP10)
	{
		value = (float) m;
		if (exp10 < 0)
			value /= exact_powers_of_ten[-exp10];
		else
			value *= exact_powers_of_ten[exp10];
	}
	else
		return parse_with_strtof(s, out, range_error);

	*out = negative ? -value : value;
	return p;
}
