/*
 * objstore_s3_xml.h - reading the two XML documents the S3 backend gets
 * back: ListObjectsV2 pages and error replies.
 */
#ifndef BRAINY_OBJSTORE_S3_XML_H
#define BRAINY_OBJSTORE_S3_XML_H

#include <stddef.h>

#include "objstore.h"

/*
 * Text of the first <tag>...</tag> inside [*pos, end), entities decoded,
 * into out (appended).  Returns 1 found, 0 not found, -1 malformed or out
 * of memory.  *pos moves past the element when found.
 */
extern int	s3_xml_element_text(const char **pos, const char *end, const char *tag,
								ObjStoreBuffer *out);

/* Decode XML entities of s[0..len) into out; 0 on success, -1 if malformed. */
extern int	s3_xml_decode(const char *s, size_t len, ObjStoreBuffer *out);

/*
 * An error reply's <Code> and <Message> (either may be missing: left
 * empty).  Returns 1 if the body was an <Error> document.
 */
extern int	s3_xml_error(const char *body, size_t len, char *code, size_t code_cap,
						 char *message, size_t message_cap);

/*
 * One ListObjectsV2 page: appends its entries to out (keys with the first
 * strip_len bytes - the store's prefix - removed; keys not starting with
 * it are a bad response, the prefix itself is skipped), sets *truncated, and the continuation token into
 * next_token (emptied first).  Returns OBJSTORE_OK or
 * OBJSTORE_BAD_RESPONSE / OBJSTORE_NO_MEMORY with *err filled.
 */
extern ObjStoreStatus s3_xml_list_page(const char *body, size_t len,
									   const char *strip, size_t strip_len,
									   ObjStoreList *out, size_t *cap,
									   int *truncated, ObjStoreBuffer *next_token,
									   ObjStoreError *err);

/* "2009-10-12T17:50:30.000Z" -> seconds since the epoch; -1 if malformed. */
extern int64_t s3_parse_iso8601(const char *s);

#endif							/* BRAINY_OBJSTORE_S3_XML_H */
