/*
 * objstore_sigv4.h - AWS Signature Version 4 for S3 requests, computed with
 * OpenSSL.  Pure functions of their inputs (no clock, no network), so the
 * unit tests check them against AWS's published example signatures.
 */
#ifndef BRAINY_OBJSTORE_SIGV4_H
#define BRAINY_OBJSTORE_SIGV4_H

#include <stddef.h>

#include "objstore.h"

#define SIGV4_HEX_LEN 65		/* 64 hex digits + NUL */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* A header to sign: name in lower case; the value is trimmed when signed. */
typedef struct SigV4Header
{
	const char *name;
	const char *value;
} SigV4Header;

/* A query parameter, not yet encoded. */
typedef struct SigV4Param
{
	const char *name;
	const char *value;
} SigV4Param;

typedef struct SigV4Request
{
	const char *method;			/* "GET" */
	const char *canonical_uri;	/* already encoded: sigv4_uri_encode_path() */
	const char *canonical_query;	/* already canonical: sigv4_canonical_query() */
	const SigV4Header *headers; /* every signed header, any order */
	int			n_headers;
	const char *payload_hash;	/* hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
	const char *amz_date;		/* "20130524T000000Z" (UTC) */
	const char *region;			/* "us-east-1" */
	const char *service;		/* "s3" */
	const char *access_key_id;
	const char *secret_access_key;
} SigV4Request;

/* Hex SHA-256 of data. */
extern void sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN]);

/*
 * RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
 * (A-Z a-z 0-9 - _ . ~) as they are, everything else as %XY with upper-case
 * hex; '/' kept when keep_slash (object paths), encoded otherwise (query
 * names and values).  Appends to out.
 */
extern ObjStoreStatus sigv4_uri_encode(const char *in, size_t len, int keep_slash,
									   ObjStoreBuffer *out);

/*
 * The canonical query string of params (encoded, sorted by name then
 * value, joined with '&'; a parameter without value is "name=").  The same
 * string is sent as the request's query, so what is signed is what is sent.
 */
extern ObjStoreStatus sigv4_canonical_query(const SigV4Param *params, int n,
											ObjStoreBuffer *out);

/* The parts of the signature, exposed for the tests. */
extern ObjStoreStatus sigv4_canonical_request(const SigV4Request *req,
											  ObjStoreBuffer *out,
											  ObjStoreBuffer *signed_headers);
extern ObjStoreStatus sigv4_string_to_sign(const SigV4Request *req,
										   ObjStoreBuffer *out);
extern void sigv4_signing_key(const char *secret, const char *date8,
							  const char *region, const char *service,
							  unsigned char key[32]);

/*
 * The Authorization header's value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into out; the signature alone into
 * signature if not NULL.
 */
extern ObjStoreStatus sigv4_authorization(const SigV4Request *req,
										  ObjStoreBuffer *out,
										  char signature[SIGV4_HEX_LEN]);

#endif							/* BRAINY_OBJSTORE_SIGV4_H */
