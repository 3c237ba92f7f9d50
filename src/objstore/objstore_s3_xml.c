/*
 * objstore_s3_xml.c - just enough XML for S3's replies: find an element's
 * text inside a range, decode the five predefined entities and numeric
 * character references, and turn ListObjectsV2 pages and <Error> documents
 * into our structures.  Anything unexpected is a bad response, never a
 * crash or a guess.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objstore_internal.h"
#include "objstore_s3_xml.h"

static const char *
find_bytes(const char *hay, const char *end, const char *needle)
{
	size_t		n = strlen(needle);

	if ((size_t) (end - hay) < n)
		return NULL;
	return memmem(hay, (size_t) (end - hay), needle, n);
}

static int
put_utf8(ObjStoreBuffer *out, unsigned long cp)
{
	char		b[4];
	size_t		n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	if (cp < 0x80)
	{
		b[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (char) (0xc0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3f));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (char) (0xe0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char) (0x80 | (cp & 0x3f));
		n = 3;
	}
	else
	{
		b[0] = (char) (0xf0 | (cp >> 18));
		b[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char) (0x80 | (cp & 0x3f));
		n = 4;
	}
	return objstore_buffer_append(out, b, n) == OBJSTORE_OK ? 0 : -1;
}

int
s3_xml_decode(const char *s, size_t len, ObjStoreBuffer *out)
{
	static const struct
	{
		const char *name;
		char		c;
	}			named[] = {
		{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}
	};

	if (objstore_buffer_reserve(out, len) != OBJSTORE_OK)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		const char *semi;
		size_t		rest;
		int			done = 0;

		if (s[i] == '<')
			return -1;			/* markup inside text: not ours to read */
		if (s[i] != '&')
		{
			out->data[out->len++] = s[i];
			continue;
		}
		rest = len - i - 1;
		for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
		{
			size_t		nl = strlen(named[k].name);

			if (rest >= nl && memcmp(s + i + 1, named[k].name, nl) == 0)
			{
				out->data[out->len++] = named[k].c;
				i += nl;
				done = 1;
				break;
			}
		}
		if (done)
			continue;
		semi = memchr(s + i + 1, ';', rest);
		if (rest >= 3 && s[i + 1] == '#' && semi != NULL && semi - (s + i) <= 12)
		{
			char		num[12];
			char	   *endp;
			size_t		nlen = (size_t) (semi - (s + i + 2));
			int			hex = (nlen > 0 && (s[i + 2] == 'x' || s[i + 2] == 'X'));
			unsigned long cp;

			memcpy(num, s + i + 2 + hex, nlen - hex);
			num[nlen - hex] = '\0';
			if (num[0] == '\0' || num[0] == '-' || num[0] == '+')
				return -1;
			cp = strtoul(num, &endp, hex ? 16 : 10);
			if (*endp != '\0' || put_utf8(out, cp) < 0)
				return -1;
			/* put_utf8 may have moved the buffer; keep room for the rest */
			if (objstore_buffer_reserve(out, len - i) != OBJSTORE_OK)
				return -1;
			i = (size_t) (semi - s);
			continue;
		}
		return -1;
	}
	out->data[out->len] = '\0';
	return 0;
}

int
s3_xml_element_text(const char **pos, const char *end, const char *tag,
					ObjStoreBuffer *out)
{
	char		open[80];
	char		close[80];
	const char *p = *pos;
	size_t		olen;

	if (strlen(tag) > 64)
		return -1;
	olen = (size_t) snprintf(open, sizeof(open), "<%s", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	for (;;)
	{
		const char *start = find_bytes(p, end, open);
		const char *gt;
		const char *stop;

		if (start == NULL)
			return 0;
		p = start + olen;
		if (p >= end)
			return -1;
		if (*p != '>' && *p != ' ' && *p != '/')
			continue;			/* a longer tag name with this prefix */
		gt = memchr(p, '>', (size_t) (end - p));
		if (gt == NULL)
			return -1;
		if (gt[-1] == '/')
		{
			*pos = gt + 1;		/* <Tag/>: empty */
			return objstore_buffer_reserve(out, 0) == OBJSTORE_OK ? 1 : -1;
		}
		stop = find_bytes(gt + 1, end, close);
		if (stop == NULL)
			return -1;
		if (s3_xml_decode(gt + 1, (size_t) (stop - gt - 1), out) < 0)
			return -1;
		*pos = stop + strlen(close);
		return 1;
	}
}

/* Copy an element's text into a fixed buffer (truncated, one line). */
static void
copy_text(const char *body, const char *end, const char *tag, char *dst, size_t cap)
{
	ObjStoreBuffer b = {0};
	const char *p = body;

	dst[0] = '\0';
	if (s3_xml_element_text(&p, end, tag, &b) == 1 && b.data != NULL)
	{
		size_t		n = 0;

		for (size_t i = 0; i < b.len && n + 1 < cap; i++)
			dst[n++] = ((unsigned char) b.data[i] < 0x20) ? ' ' : b.data[i];
		dst[n] = '\0';
	}
	objstore_buffer_free(&b);
}

int
s3_xml_error(const char *body, size_t len, char *code, size_t code_cap,
			 char *message, size_t message_cap)
{
	const char *end = body + len;
	const char *err;

	code[0] = '\0';
	message[0] = '\0';
	if (body == NULL || len == 0)
		return 0;
	err = find_bytes(body, end, "<Error>");
	if (err == NULL)
		return 0;
	copy_text(err, end, "Code", code, code_cap);
	copy_text(err, end, "Message", message, message_cap);
	return 1;
}

int64_t
s3_parse_iso8601(const char *s)
{
	struct tm	tm;
	const char *rest;

	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return -1;
	if (*rest == '.')
	{
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	if (strcmp(rest, "Z") != 0)
		return -1;
	return (int64_t) timegm(&tm);
}

ObjStoreStatus
s3_xml_list_page(const char *body, size_t len, const char *strip,
				 size_t strip_len, ObjStoreList *out, size_t *cap,
				 int *truncated, ObjStoreBuffer *next_token, ObjStoreError *err)
{
	const char *end = body + len;
	const char *p;
	ObjStoreBuffer t = {0};
	ObjStoreStatus st = OBJSTORE_OK;
	int			r;

	next_token->len = 0;
	if (next_token->data)
		next_token->data[0] = '\0';
	*truncated = 0;
	if (body == NULL || find_bytes(body, end, "<ListBucketResult") == NULL)
		return objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "",
							 "list reply is not a ListBucketResult document");
	p = body;
	for (;;)
	{
		const char *c = find_bytes(p, end, "<Contents>");
		const char *cend;
		const char *q;
		ObjStoreInfo info;
		int64_t		t_mod;
		char	   *endp;

		if (c == NULL)
			break;
		cend = find_bytes(c, end, "</Contents>");
		if (cend == NULL)
		{
			st = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "", "list reply: unterminated <Contents>");
			goto done;
		}
		memset(&info, 0, sizeof(info));

		q = c;
		t.len = 0;
		if (s3_xml_element_text(&q, cend, "Size", &t) != 1 || t.len == 0)
			goto bad_entry;
		info.size = strtoull(t.data, &endp, 10);
		if (*endp != '\0' || t.data[0] == '-')
			goto bad_entry;

		q = c;
		t.len = 0;
		if (s3_xml_element_text(&q, cend, "LastModified", &t) != 1 ||
			(t_mod = s3_parse_iso8601(t.data)) < 0)
			goto bad_entry;
		info.last_modified = t_mod;

		q = c;
		t.len = 0;
		r = s3_xml_element_text(&q, cend, "ETag", &t);
		if (r < 0)
			goto bad_entry;
		if (r == 1)
		{
			const char *e = t.data;
			size_t		elen = t.len;

			if (elen >= 2 && e[0] == '"' && e[elen - 1] == '"')
			{
				e++;
				elen -= 2;
			}
			if (elen >= OBJSTORE_ETAG_LEN)
				goto bad_entry;
			memcpy(info.etag, e, elen);
			info.etag[elen] = '\0';
		}

		q = c;
		t.len = 0;
		if (s3_xml_element_text(&q, cend, "Key", &t) != 1 || t.len < strip_len ||
			memcmp(t.data, strip, strip_len) != 0 || strlen(t.data) != t.len)
			goto bad_entry;
		/* the prefix itself (a "folder" marker some tools create) is no key */
		if (t.len > strip_len &&
			objstore_list_append(out, cap, t.data + strip_len, t.len - strip_len,
								 &info) != OBJSTORE_OK)
		{
			st = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory listing");
			goto done;
		}
		p = cend + strlen("</Contents>");
		continue;

bad_entry:
		st = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "",
						   "list reply: an entry without a valid Key, Size, LastModified or ETag");
		goto done;
	}

	p = body;
	t.len = 0;
	r = s3_xml_element_text(&p, end, "IsTruncated", &t);
	if (r != 1 || (strcmp(t.data, "true") != 0 && strcmp(t.data, "false") != 0))
	{
		st = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "", "list reply without a valid IsTruncated");
		goto done;
	}
	*truncated = strcmp(t.data, "true") == 0;
	if (*truncated)
	{
		p = body;
		r = s3_xml_element_text(&p, end, "NextContinuationToken", next_token);
		if (r != 1 || next_token->len == 0)
		{
			st = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "",
							   "truncated list reply without a NextContinuationToken");
			goto done;
		}
	}
done:
	objstore_buffer_free(&t);
	return st;
}
