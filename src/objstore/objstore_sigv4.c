/*
 * objstore_sigv4.c - AWS Signature Version 4 (header-based, single chunk):
 * canonical request, string to sign, signing key and signature, with
 * OpenSSL's SHA-256 and HMAC.  See objstore_sigv4.h.
 *
 * S3 differs from the other AWS services in two ways honoured here: object
 * paths are encoded once (not twice), and the payload hash is the value of
 * the x-amz-content-sha256 header, which the caller signs like any other.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objstore_internal.h"
#include "objstore_sigv4.h"

static const char hexdigits[] = "0123456789abcdef";

static void
to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HEX_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	to_hex(md, 32, out);
}

static void
hmac_sha256(const void *key, size_t keylen, const char *msg, size_t msglen,
			unsigned char out[32])
{
	unsigned int outlen = 32;

	HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, msglen,
		 out, &outlen);
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

ObjStoreStatus
sigv4_uri_encode(const char *in, size_t len, int keep_slash, ObjStoreBuffer *out)
{
	static const char upper[] = "0123456789ABCDEF";

	if (objstore_buffer_reserve(out, len * 3) != OBJSTORE_OK)
		return OBJSTORE_NO_MEMORY;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (unreserved(c) || (keep_slash && c == '/'))
			out->data[out->len++] = (char) c;
		else
		{
			out->data[out->len++] = '%';
			out->data[out->len++] = upper[c >> 4];
			out->data[out->len++] = upper[c & 15];
		}
	}
	out->data[out->len] = '\0';
	return OBJSTORE_OK;
}

typedef struct EncodedParam
{
	char	   *name;
	char	   *value;
} EncodedParam;

static int
param_cmp(const void *a, const void *b)
{
	const EncodedParam *x = a;
	const EncodedParam *y = b;
	int			c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static char *
encode_copy(const char *s)
{
	ObjStoreBuffer b = {0};

	if (sigv4_uri_encode(s ? s : "", s ? strlen(s) : 0, 0, &b) != OBJSTORE_OK)
	{
		objstore_buffer_free(&b);
		return NULL;
	}
	if (b.data == NULL)
		return strdup("");
	return b.data;
}

ObjStoreStatus
sigv4_canonical_query(const SigV4Param *params, int n, ObjStoreBuffer *out)
{
	EncodedParam *enc;
	ObjStoreStatus st = OBJSTORE_OK;
	int			done = 0;

	if (objstore_buffer_reserve(out, 0) != OBJSTORE_OK)
		return OBJSTORE_NO_MEMORY;
	if (n == 0)
		return OBJSTORE_OK;
	enc = calloc((size_t) n, sizeof(EncodedParam));
	if (enc == NULL)
		return OBJSTORE_NO_MEMORY;
	for (; done < n; done++)
	{
		enc[done].name = encode_copy(params[done].name);
		enc[done].value = encode_copy(params[done].value);
		if (enc[done].name == NULL || enc[done].value == NULL)
		{
			done++;
			st = OBJSTORE_NO_MEMORY;
			goto out;
		}
	}
	/* sorted by encoded name (byte order), then by value */
	qsort(enc, (size_t) n, sizeof(EncodedParam), param_cmp);
	for (int i = 0; i < n && st == OBJSTORE_OK; i++)
	{
		if ((i > 0 && objstore_buffer_append(out, "&", 1) != OBJSTORE_OK) ||
			objstore_buffer_append(out, enc[i].name, strlen(enc[i].name)) != OBJSTORE_OK ||
			objstore_buffer_append(out, "=", 1) != OBJSTORE_OK ||
			objstore_buffer_append(out, enc[i].value, strlen(enc[i].value)) != OBJSTORE_OK)
			st = OBJSTORE_NO_MEMORY;
	}
out:
	for (int i = 0; i < done; i++)
	{
		free(enc[i].name);
		free(enc[i].value);
	}
	free(enc);
	return st;
}

static int
header_cmp(const void *a, const void *b)
{
	return strcmp(((const SigV4Header *) a)->name, ((const SigV4Header *) b)->name);
}

/* Append value with leading/trailing spaces removed and runs collapsed. */
static ObjStoreStatus
append_trimmed(ObjStoreBuffer *out, const char *v)
{
	int			pending_space = 0;
	int			started = 0;

	for (; *v; v++)
	{
		if (*v == ' ' || *v == '\t')
		{
			pending_space = started;
			continue;
		}
		if (pending_space && objstore_buffer_append(out, " ", 1) != OBJSTORE_OK)
			return OBJSTORE_NO_MEMORY;
		pending_space = 0;
		started = 1;
		if (objstore_buffer_append(out, v, 1) != OBJSTORE_OK)
			return OBJSTORE_NO_MEMORY;
	}
	return objstore_buffer_reserve(out, 0);
}

#define APPEND(buf, s) \
	do { if (objstore_buffer_append((buf), (s), strlen(s)) != OBJSTORE_OK) goto oom; } while (0)

ObjStoreStatus
sigv4_canonical_request(const SigV4Request *req, ObjStoreBuffer *out,
						ObjStoreBuffer *signed_headers)
{
	SigV4Header *sorted;

	sorted = malloc(sizeof(SigV4Header) * (size_t) (req->n_headers > 0 ? req->n_headers : 1));
	if (sorted == NULL)
		return OBJSTORE_NO_MEMORY;
	memcpy(sorted, req->headers, sizeof(SigV4Header) * (size_t) req->n_headers);
	qsort(sorted, (size_t) req->n_headers, sizeof(SigV4Header), header_cmp);

	APPEND(out, req->method);
	APPEND(out, "\n");
	APPEND(out, req->canonical_uri);
	APPEND(out, "\n");
	APPEND(out, req->canonical_query ? req->canonical_query : "");
	APPEND(out, "\n");
	for (int i = 0; i < req->n_headers; i++)
	{
		APPEND(out, sorted[i].name);
		APPEND(out, ":");
		if (append_trimmed(out, sorted[i].value) != OBJSTORE_OK)
			goto oom;
		APPEND(out, "\n");
	}
	APPEND(out, "\n");
	if (objstore_buffer_reserve(signed_headers, 0) != OBJSTORE_OK)
		goto oom;
	for (int i = 0; i < req->n_headers; i++)
	{
		if (i > 0)
			APPEND(signed_headers, ";");
		APPEND(signed_headers, sorted[i].name);
	}
	APPEND(out, signed_headers->data);
	APPEND(out, "\n");
	APPEND(out, req->payload_hash);
	free(sorted);
	return OBJSTORE_OK;
oom:
	free(sorted);
	return OBJSTORE_NO_MEMORY;
}

/* "20130524/us-east-1/s3/aws4_request" */
static ObjStoreStatus
append_scope(const SigV4Request *req, ObjStoreBuffer *out)
{
	if (objstore_buffer_append(out, req->amz_date, 8) != OBJSTORE_OK)
		goto oom;
	APPEND(out, "/");
	APPEND(out, req->region);
	APPEND(out, "/");
	APPEND(out, req->service);
	APPEND(out, "/aws4_request");
	return OBJSTORE_OK;
oom:
	return OBJSTORE_NO_MEMORY;
}

static ObjStoreStatus
string_to_sign(const SigV4Request *req, ObjStoreBuffer *out,
			   ObjStoreBuffer *signed_headers)
{
	ObjStoreBuffer creq = {0};
	char		hash[SIGV4_HEX_LEN];

	if (strlen(req->amz_date) != 16)
		return OBJSTORE_INVALID_ARGUMENT;
	if (sigv4_canonical_request(req, &creq, signed_headers) != OBJSTORE_OK)
		goto oom;
	sigv4_sha256_hex(creq.data, creq.len, hash);
	objstore_buffer_free(&creq);
	APPEND(out, "AWS4-HMAC-SHA256\n");
	APPEND(out, req->amz_date);
	APPEND(out, "\n");
	if (append_scope(req, out) != OBJSTORE_OK)
		goto oom;
	APPEND(out, "\n");
	APPEND(out, hash);
	return OBJSTORE_OK;
oom:
	objstore_buffer_free(&creq);
	return OBJSTORE_NO_MEMORY;
}

ObjStoreStatus
sigv4_string_to_sign(const SigV4Request *req, ObjStoreBuffer *out)
{
	ObjStoreBuffer sh = {0};
	ObjStoreStatus st = string_to_sign(req, out, &sh);

	objstore_buffer_free(&sh);
	return st;
}

void
sigv4_signing_key(const char *secret, const char *date8, const char *region,
				  const char *service, unsigned char key[32])
{
	size_t		slen = strlen(secret);
	char	   *k = malloc(slen + 5);
	unsigned char a[32];
	unsigned char b[32];

	if (k == NULL)
	{
		memset(key, 0, 32);
		return;
	}
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, slen + 1);
	hmac_sha256(k, slen + 4, date8, 8, a);
	hmac_sha256(a, 32, region, strlen(region), b);
	hmac_sha256(b, 32, service, strlen(service), a);
	hmac_sha256(a, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(k, slen + 4);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	free(k);
}

ObjStoreStatus
sigv4_authorization(const SigV4Request *req, ObjStoreBuffer *out,
					char signature[SIGV4_HEX_LEN])
{
	ObjStoreBuffer sts = {0};
	ObjStoreBuffer sh = {0};
	unsigned char key[32];
	unsigned char sig[32];
	char		sighex[SIGV4_HEX_LEN];
	ObjStoreStatus st;

	st = string_to_sign(req, &sts, &sh);
	if (st != OBJSTORE_OK)
		goto done;
	sigv4_signing_key(req->secret_access_key, req->amz_date, req->region,
					  req->service, key);
	hmac_sha256(key, 32, sts.data, sts.len, sig);
	OPENSSL_cleanse(key, sizeof(key));
	to_hex(sig, 32, sighex);
	if (signature != NULL)
		memcpy(signature, sighex, SIGV4_HEX_LEN);

	st = OBJSTORE_NO_MEMORY;
	APPEND(out, "AWS4-HMAC-SHA256 Credential=");
	APPEND(out, req->access_key_id);
	APPEND(out, "/");
	if (append_scope(req, out) != OBJSTORE_OK)
		goto oom;
	APPEND(out, ",SignedHeaders=");
	APPEND(out, sh.data);
	APPEND(out, ",Signature=");
	APPEND(out, sighex);
	st = OBJSTORE_OK;
oom:
done:
	objstore_buffer_free(&sts);
	objstore_buffer_free(&sh);
	return st;
}
