/*
 * float_parse.h - fast, correctly rounded parsing of one float4 from text.
 *
 * Plain C.  Gives bit-for-bit the same result as strtof() for every input:
 * short decimal numbers take an exact fast path, anything else goes to
 * strtof().
 */
#ifndef BRAINY_FLOAT_PARSE_H
#define BRAINY_FLOAT_PARSE_H

/*
 * Parse a float at s (no leading white space is skipped).  Returns the
 * position just after the number, or s itself when no number starts there.
 * *range_error is set to 1 when the value overflows float (then *out is
 * +-HUGE_VALF), else 0.
 */
const char *brainy_parse_float(const char *s, float *out, int *range_error);

#endif							/* BRAINY_FLOAT_PARSE_H */
