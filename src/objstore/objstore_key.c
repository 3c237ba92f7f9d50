/*
 * objstore_key.c - what a key may be.
 *
 * Both backends accept exactly the same keys, so a cluster can move from
 * file:// to s3:// without surprises: 1 to 1024 bytes of valid UTF-8, no
 * NUL or control characters, no leading '/', and no "." or ".." segment
 * (which the file backend could not store without escaping its directory,
 * and which S3 clients and tools treat inconsistently).
 */
#include <string.h>

#include "objstore_internal.h"

/* Length of the valid UTF-8 sequence at s (of at most n bytes), or 0. */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t		len;
	uint32_t	cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
	{
		len = 2;
		cp = c & 0x1f;
	}
	else if (c >= 0xe0 && c <= 0xef)
	{
		len = 3;
		cp = c & 0x0f;
	}
	else if (c >= 0xf0 && c <= 0xf4)
	{
		len = 4;
		cp = c & 0x07;
	}
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		(cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

ObjStoreStatus
objstore_key_check(const char *key, ObjStoreError *err)
{
	const unsigned char *s = (const unsigned char *) key;
	size_t		len;
	size_t		seg_start = 0;

	if (key == NULL || key[0] == '\0')
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "key is empty");
	len = strnlen(key, OBJSTORE_KEY_MAX + 1);
	if (len > OBJSTORE_KEY_MAX)
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "key is longer than %d bytes", OBJSTORE_KEY_MAX);
	if (key[0] == '/')
		return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
							 "key starts with '/' (keys are relative)");
	for (size_t i = 0; i <= len;)
	{
		size_t		n;

		if (i == len || s[i] == '/')
		{
			size_t		seg = i - seg_start;

			if ((seg == 1 && s[seg_start] == '.') ||
				(seg == 2 && s[seg_start] == '.' && s[seg_start + 1] == '.'))
				return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
									 "key has a \".\" or \"..\" segment");
			seg_start = i + 1;
			i++;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f)
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
								 "key contains a control character at byte %zu", i);
		n = utf8_sequence(s + i, len - i);
		if (n == 0)
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
								 "key is not valid UTF-8 at byte %zu", i);
		i += n;
	}
	return OBJSTORE_OK;
}
