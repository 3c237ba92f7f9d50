/*
 * objstore_s3.c - the s3:// backend: the S3 REST API over libcurl, signed
 * with AWS Signature Version 4 (objstore_sigv4.c), retried by the policy in
 * objstore_retry.c.
 *
 * One libcurl easy handle per store handle, reset (which keeps its
 * connection cache) and reused for every request, so requests go over one
 * kept-alive connection.  Per attempt: a connect timeout and a whole-request
 * timeout.  Each request is signed anew (the date is part of the signature)
 * with the headers host, x-amz-content-sha256 (SHA-256 of the body),
 * x-amz-date, and when present x-amz-security-token, range, if-match and
 * if-none-match.  The query string sent is the canonical one, so what is
 * signed is what is sent.
 *
 * Addressing: path style http(s)://endpoint/bucket/key, or virtual-hosted
 * style http(s)://bucket.endpoint/key (the default, as on AWS).  Without an
 * endpoint: https://s3.<region>.amazonaws.com.
 *
 * Credentials: the secret is only ever used to derive signing keys; it and
 * the access key id are never written into an error message (server
 * messages are scrubbed of the access key id, in case a server echoes it),
 * and the secret is wiped from memory when the store is closed.
 *
 * Conditional writes after an ambiguous failure: if an attempt of a
 * conditional PUT timed out, lost its connection or got a 5xx, the write may
 * have been applied, and a retry then gets 412 because of our own write.
 * Comparing the object with our body cannot tell (another writer may have
 * written the same bytes: two racing increments of a counter do), so the
 * 412 is returned with err->maybe_applied set, for the caller to resolve
 * with what it knows (a change-log segment's content is unique to its
 * writer; a compare-and-swap loop re-reads anyway).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "objstore_internal.h"
#include "objstore_retry.h"
#include "objstore_s3_xml.h"
#include "objstore_sigv4.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_LIST_PAGES 1000000

typedef struct S3Store
{
	ObjStore	base;
	CURL	   *curl;
	char	   *bucket;
	char	   *prefix;			/* "" or ending in '/' */
	char	   *base_url;		/* scheme://host[:port] (virtual: with bucket) */
	char	   *host;			/* Host header value */
	char	   *path_base;		/* "/bucket" (path style) or "" */
	char	   *region;
	char	   *access_key_id;
	char	   *secret_access_key;
	char	   *session_token;	/* NULL if none */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			list_page_size;
	ObjStoreRetryPolicy retry;
	uint64_t	rng;
	char		curl_error[CURL_ERROR_SIZE];
} S3Store;

/* One request, as the operations describe it. */
typedef struct S3Request
{
	ObjStoreOp	op;
	const char *method;
	const char *key;			/* with the store's prefix; NULL = the bucket */
	const char *query;			/* canonical, or NULL */
	const void *body;
	size_t		body_len;
	const char *payload_hash;	/* NULL = SHA-256 of the empty body */
	const char *range;			/* "bytes=a-b" or NULL */
	const char *if_match;
	int			if_none_match;
} S3Request;

/* What came back. */
typedef struct S3Response
{
	long		http_status;
	ObjStoreBuffer *body;		/* response body (also for errors) */
	char		etag[OBJSTORE_ETAG_LEN];
	int64_t		last_modified;	/* -1 if absent */
	int64_t		date;			/* -1 if absent */
	int64_t		content_length; /* -1 if absent */
	int64_t		range_total;	/* total size from Content-Range, -1 if absent */
	int			oom;
} S3Response;

typedef struct UploadState
{
	const char *data;
	size_t		len;
	size_t		pos;
} UploadState;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void
curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* -------------------------------------------------------- curl callbacks */

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	S3Response *r = userdata;
	size_t		n = size * nmemb;

	if (objstore_buffer_append(r->body, ptr, n) != OBJSTORE_OK)
	{
		r->oom = 1;
		return 0;				/* makes curl fail with CURLE_WRITE_ERROR */
	}
	return n;
}

static size_t
on_upload(char *buffer, size_t size, size_t nitems, void *userdata)
{
	UploadState *u = userdata;
	size_t		n = size * nitems;

	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(buffer, u->data + u->pos, n);
	u->pos += n;
	return n;
}

/* Value of "Name: value\r\n" if the header line is name (any case), or NULL. */
static const char *
header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t		nlen = strlen(name);
	const char *v;
	const char *end = line + len;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return NULL;
	v = line + nlen + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	*vlen = (size_t) (end - v);
	return v;
}

static int64_t
http_date(const char *v, size_t n)
{
	char		tmp[128];
	time_t		t;

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	t = curl_getdate(tmp, NULL);
	return t < 0 ? -1 : (int64_t) t;
}

static size_t
on_header(char *line, size_t size, size_t nitems, void *userdata)
{
	S3Response *r = userdata;
	size_t		len = size * nitems;
	const char *v;
	size_t		n;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
	{
		/* a new response (after 100 Continue, or a retry): start over */
		r->etag[0] = '\0';
		r->last_modified = r->date = r->content_length = r->range_total = -1;
		return len;
	}
	if ((v = header_value(line, len, "etag", &n)) != NULL)
	{
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		{
			v++;
			n -= 2;
		}
		if (n < OBJSTORE_ETAG_LEN)
		{
			memcpy(r->etag, v, n);
			r->etag[n] = '\0';
		}
	}
	else if ((v = header_value(line, len, "last-modified", &n)) != NULL)
		r->last_modified = http_date(v, n);
	else if ((v = header_value(line, len, "date", &n)) != NULL)
		r->date = http_date(v, n);
	else if ((v = header_value(line, len, "content-length", &n)) != NULL)
	{
		char		tmp[32];
		char	   *endp;

		if (n > 0 && n < sizeof(tmp))
		{
			memcpy(tmp, v, n);
			tmp[n] = '\0';
			r->content_length = (int64_t) strtoll(tmp, &endp, 10);
			if (*endp != '\0' || r->content_length < 0)
				r->content_length = -1;
		}
	}
	else if ((v = header_value(line, len, "content-range", &n)) != NULL)
	{
		/* "bytes 0-9/1234" */
		const char *slash = memchr(v, '/', n);

		if (slash != NULL && slash + 1 < v + n && slash[1] != '*')
		{
			char		tmp[32];
			size_t		tl = (size_t) (v + n - slash - 1);
			char	   *endp;

			if (tl < sizeof(tmp))
			{
				memcpy(tmp, slash + 1, tl);
				tmp[tl] = '\0';
				r->range_total = (int64_t) strtoll(tmp, &endp, 10);
				if (*endp != '\0')
					r->range_total = -1;
			}
		}
	}
	return len;
}

/* ------------------------------------------------------------- helpers */

/* Replace every occurrence of the access key id in s with "***". */
static void
scrub(const S3Store *s, char *msg)
{
	size_t		klen = s->access_key_id ? strlen(s->access_key_id) : 0;
	char	   *p;

	if (klen < 4)
		return;
	while ((p = strstr(msg, s->access_key_id)) != NULL)
	{
		memcpy(p, "***", 3);
		memmove(p + 3, p + klen, strlen(p + klen) + 1);
	}
}

/* path of a key: path_base + "/" + encoded key (keeping '/') */
static ObjStoreStatus
build_path(const S3Store *s, const char *key, ObjStoreBuffer *path)
{
	if (objstore_buffer_append(path, s->path_base, strlen(s->path_base)) != OBJSTORE_OK)
		return OBJSTORE_NO_MEMORY;
	if (key == NULL)
		return s->path_base[0] ? OBJSTORE_OK : objstore_buffer_append(path, "/", 1);
	if (objstore_buffer_append(path, "/", 1) != OBJSTORE_OK)
		return OBJSTORE_NO_MEMORY;
	return sigv4_uri_encode(key, strlen(key), 1, path);
}

static struct curl_slist *
add_header(struct curl_slist *list, const char *name, const char *value, int *oom)
{
	char	   *line;
	size_t		n;
	struct curl_slist *r;

	if (*oom)
		return list;
	n = strlen(name) + strlen(value) + 3;
	line = malloc(n);
	if (line == NULL)
	{
		*oom = 1;
		return list;
	}
	snprintf(line, n, "%s: %s", name, value);
	r = curl_slist_append(list, line);
	OPENSSL_cleanse(line, n);	/* may hold the Authorization header */
	free(line);
	if (r == NULL)
	{
		*oom = 1;
		return list;
	}
	return r;
}

static void
free_headers(struct curl_slist *list)
{
	/* wipe header values (Authorization, security token) before freeing */
	for (struct curl_slist *p = list; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(list);
}

static ObjStoreStatus
classify_http(S3Store *s, const S3Request *req, S3Response *resp,
			  ObjStoreError *err)
{
	long		code = resp->http_status;
	char		scode[OBJSTORE_CODE_LEN];
	char		smsg[OBJSTORE_MESSAGE_LEN];
	ObjStoreStatus status;

	if (code >= 200 && code < 300)
		return OBJSTORE_OK;
	s3_xml_error(resp->body->data, resp->body->len, scode, sizeof(scode),
				 smsg, sizeof(smsg));
	if (scode[0] == '\0')
	{
		/* HEAD replies have no body: name the status ourselves */
		const char *name = code == 404 ? "NotFound" : code == 412 ? "PreconditionFailed" :
			code == 403 ? "Forbidden" : code == 503 ? "ServiceUnavailable" : "";

		snprintf(scode, sizeof(scode), "%s", name);
	}
	scrub(s, smsg);
	if (code == 404)
		status = OBJSTORE_NOT_FOUND;
	else if (code == 412)
		status = OBJSTORE_PRECONDITION_FAILED;
	else if (code == 401 || code == 403)
		status = OBJSTORE_ACCESS_DENIED;
	else if (code == 429 || (code == 503 && strcmp(scode, "SlowDown") == 0))
		status = OBJSTORE_THROTTLED;
	else if (code == 409)
		status = OBJSTORE_CONFLICT;
	else if (code >= 500 && code < 600)
		status = OBJSTORE_SERVER_ERROR;
	else if (code >= 300 && code < 500)
		status = OBJSTORE_INVALID_ARGUMENT;
	else
		status = OBJSTORE_BAD_RESPONSE;
	return objstore_fail(err, status, (int) code, scode, "%s %s: HTTP %ld%s%s%s%s",
						 req->method, req->key ? req->key : "(bucket)", code,
						 scode[0] ? " " : "", scode, smsg[0] ? ": " : "", smsg);
}

static ObjStoreStatus
classify_curl(S3Store *s, const S3Request *req, CURLcode rc, S3Response *resp,
			  ObjStoreError *err)
{
	ObjStoreStatus status;
	const char *detail = s->curl_error[0] ? s->curl_error : curl_easy_strerror(rc);

	if (rc == CURLE_WRITE_ERROR && resp->oom)
		return objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "%s %s: out of memory for the reply",
							 req->method, req->key ? req->key : "(bucket)");
	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			status = OBJSTORE_TIMEOUT;
			break;
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
			status = OBJSTORE_INVALID_ARGUMENT;
			break;
		case CURLE_OUT_OF_MEMORY:
			status = OBJSTORE_NO_MEMORY;
			break;
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_BAD_CONTENT_ENCODING:
			status = OBJSTORE_BAD_RESPONSE;
			break;
		default:
			/* refused, reset, dropped, partial reply, DNS, TLS */
			status = OBJSTORE_NETWORK;
			break;
	}
	return objstore_fail(err, status, 0, curl_easy_strerror(rc), "%s %s: %s",
						 req->method, req->key ? req->key : "(bucket)", detail);
}

/* ------------------------------------------------------------ requests */

/* One attempt.  resp->body is emptied first. */
static ObjStoreStatus
perform(S3Store *s, const S3Request *req, S3Response *resp, ObjStoreError *err)
{
	ObjStoreBuffer path = {0};
	ObjStoreBuffer url = {0};
	ObjStoreBuffer auth = {0};
	SigV4Header hdrs[8];
	int			nh = 0;
	char		amz_date[17];
	time_t		now = time(NULL);
	struct tm	tm;
	struct curl_slist *list = NULL;
	int			oom = 0;
	UploadState upload = {req->body, req->body_len, 0};
	SigV4Request sreq;
	CURLcode	rc;
	long		connects = 0;
	ObjStoreStatus status;
	const char *payload_hash = req->payload_hash ? req->payload_hash : EMPTY_SHA256;

	resp->body->len = 0;
	if (resp->body->data)
		resp->body->data[0] = '\0';
	resp->http_status = 0;
	resp->etag[0] = '\0';
	resp->last_modified = resp->date = resp->content_length = resp->range_total = -1;
	resp->oom = 0;
	s->curl_error[0] = '\0';

	gmtime_r(&now, &tm);
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);

	if (build_path(s, req->key, &path) != OBJSTORE_OK ||
		objstore_buffer_append(&url, s->base_url, strlen(s->base_url)) != OBJSTORE_OK ||
		objstore_buffer_append(&url, path.data, path.len) != OBJSTORE_OK ||
		(req->query && req->query[0] &&
		 (objstore_buffer_append(&url, "?", 1) != OBJSTORE_OK ||
		  objstore_buffer_append(&url, req->query, strlen(req->query)) != OBJSTORE_OK)))
	{
		status = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory building a request");
		goto done;
	}

	hdrs[nh++] = (SigV4Header) {"host", s->host};
	hdrs[nh++] = (SigV4Header) {"x-amz-content-sha256", payload_hash};
	hdrs[nh++] = (SigV4Header) {"x-amz-date", amz_date};
	if (s->session_token)
		hdrs[nh++] = (SigV4Header) {"x-amz-security-token", s->session_token};
	if (req->range)
		hdrs[nh++] = (SigV4Header) {"range", req->range};
	if (req->if_match)
		hdrs[nh++] = (SigV4Header) {"if-match", req->if_match};
	if (req->if_none_match)
		hdrs[nh++] = (SigV4Header) {"if-none-match", "*"};

	sreq.method = req->method;
	sreq.canonical_uri = path.data;
	sreq.canonical_query = req->query ? req->query : "";
	sreq.headers = hdrs;
	sreq.n_headers = nh;
	sreq.payload_hash = payload_hash;
	sreq.amz_date = amz_date;
	sreq.region = s->region;
	sreq.service = "s3";
	sreq.access_key_id = s->access_key_id;
	sreq.secret_access_key = s->secret_access_key;
	if (sigv4_authorization(&sreq, &auth, NULL) != OBJSTORE_OK)
	{
		status = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory signing a request");
		goto done;
	}
	for (int i = 0; i < nh; i++)
		list = add_header(list, hdrs[i].name, hdrs[i].value, &oom);
	list = add_header(list, "authorization", auth.data, &oom);
	if (!oom)
	{
		/* no "Expect: 100-continue" round trip, no "Accept: * / *" */
		struct curl_slist *r = curl_slist_append(list, "Expect:");

		if (r == NULL || (r = curl_slist_append(r, "Accept:")) == NULL)
			oom = 1;
		else
			list = r;
	}
	if (oom)
	{
		status = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory building headers");
		goto done;
	}

	curl_easy_reset(s->curl);	/* keeps the connection cache */
	curl_easy_setopt(s->curl, CURLOPT_URL, url.data);
	curl_easy_setopt(s->curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_error);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long) s->connect_timeout_ms);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long) s->timeout_ms);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "PUT") == 0)
	{
		curl_easy_setopt(s->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(s->curl, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(s->curl, CURLOPT_READDATA, &upload);
		curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, req->method);

	rc = curl_easy_perform(s->curl);
	s->base.stats.op[req->op].requests++;
	if (curl_easy_getinfo(s->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		s->base.stats.connections += (uint64_t) connects;
	if (rc != CURLE_OK)
	{
		status = classify_curl(s, req, rc, resp, err);
		goto done;
	}
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &resp->http_status);
	s->base.stats.op[req->op].bytes_in += resp->body->len;
	s->base.stats.op[req->op].bytes_out += req->body_len;
	status = classify_http(s, req, resp, err);

done:
	/* the easy handle must not keep pointers to what is freed here */
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	free_headers(list);
	if (auth.data)
		OPENSSL_cleanse(auth.data, auth.len);
	objstore_buffer_free(&auth);
	objstore_buffer_free(&path);
	objstore_buffer_free(&url);
	return status;
}

/*
 * Perform with retries.  *ambiguous is set when an attempt failed in a way
 * that may have left the request applied (timeout, network, 5xx).
 */
static ObjStoreStatus
request(S3Store *s, const S3Request *req, S3Response *resp, ObjStoreError *err,
		int *ambiguous)
{
	ObjStoreError local;
	ObjStoreStatus status;
	int			attempt = 0;

	if (err == NULL)
		err = &local;
	if (ambiguous)
		*ambiguous = 0;
	for (;;)
	{
		attempt++;
		if (attempt > 1)
			s->base.stats.op[req->op].retries++;
		status = perform(s, req, resp, err);
		err->attempts = attempt;
		if (status == OBJSTORE_OK || !objstore_status_retryable(status) ||
			attempt >= s->retry.max_attempts)
			break;
		if (ambiguous && status != OBJSTORE_THROTTLED && status != OBJSTORE_CONFLICT)
			*ambiguous = 1;
		objstore_sleep_ms(objstore_retry_delay_ms(&s->retry, attempt, &s->rng));
	}
	if (status == OBJSTORE_OK)
	{
		objstore_clear_error(err);
		err->attempts = attempt;
	}
	return status;
}

/* full key: the store's prefix + key, in *out (malloc'd) */
static ObjStoreStatus
full_key(const S3Store *s, const char *key, char **out, ObjStoreError *err)
{
	size_t		pl = strlen(s->prefix);
	size_t		kl = strlen(key);

	*out = malloc(pl + kl + 1);
	if (*out == NULL)
		return objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory");
	memcpy(*out, s->prefix, pl);
	memcpy(*out + pl, key, kl + 1);
	return OBJSTORE_OK;
}

static void
fill_info(ObjStoreInfo *info, const S3Response *resp, uint64_t size)
{
	snprintf(info->etag, sizeof(info->etag), "%s", resp->etag);
	info->size = size;
	info->last_modified = resp->last_modified >= 0 ? resp->last_modified :
		(resp->date >= 0 ? resp->date : 0);
}

/* ---------------------------------------------------------- operations */

static ObjStoreStatus
s3_get(ObjStore *store, const char *key, const ObjStoreRange *range,
	   ObjStoreBuffer *body, ObjStoreInfo *info, ObjStoreError *err)
{
	S3Store    *s = (S3Store *) store;
	S3Request	req = {.op = OBJSTORE_OP_GET, .method = "GET"};
	S3Response	resp = {.body = body};
	char		rangehdr[64];
	char	   *fk;
	ObjStoreStatus status;

	if ((status = full_key(s, key, &fk, err)) != OBJSTORE_OK)
		return status;
	req.key = fk;
	if (range != NULL)
	{
		snprintf(rangehdr, sizeof(rangehdr), "bytes=%llu-%llu",
				 (unsigned long long) range->offset,
				 (unsigned long long) (range->offset + range->length - 1));
		req.range = rangehdr;
	}
	status = request(s, &req, &resp, err, NULL);
	if (status == OBJSTORE_OK)
	{
		uint64_t	size = body->len;

		if (range != NULL && resp.http_status == 206)
		{
			if (resp.range_total < 0 || body->len > range->length)
				status = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 206, "",
									   "GET %s: partial reply without a valid Content-Range", fk);
			else
				size = (uint64_t) resp.range_total;
		}
		else if (range != NULL)
		{
			/* the server ignored the range: cut it out ourselves */
			if (range->offset >= body->len)
				status = objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 416, "InvalidRange",
									   "GET %s: range starts past the end of the object", fk);
			else
			{
				uint64_t	n = body->len - range->offset;

				if (n > range->length)
					n = range->length;
				memmove(body->data, body->data + range->offset, (size_t) n);
				body->len = (size_t) n;
				body->data[n] = '\0';
			}
		}
		if (status == OBJSTORE_OK && resp.etag[0] == '\0')
			status = objstore_fail(err, OBJSTORE_BAD_RESPONSE, (int) resp.http_status, "",
								   "GET %s: reply without an ETag", fk);
		if (status == OBJSTORE_OK && info != NULL)
			fill_info(info, &resp, size);
	}
	else if (status == OBJSTORE_INVALID_ARGUMENT && resp.http_status == 416)
		objstore_fail(err, status, 416, "InvalidRange",
					  "GET %s: range starts past the end of the object", fk);
	free(fk);
	return status;
}

static ObjStoreStatus
s3_head(ObjStore *store, const char *key, ObjStoreInfo *info,
		ObjStoreError *err)
{
	S3Store    *s = (S3Store *) store;
	ObjStoreBuffer body = {0};
	S3Request	req = {.op = OBJSTORE_OP_HEAD, .method = "HEAD"};
	S3Response	resp = {.body = &body};
	char	   *fk;
	ObjStoreStatus status;

	if ((status = full_key(s, key, &fk, err)) != OBJSTORE_OK)
		return status;
	req.key = fk;
	status = request(s, &req, &resp, err, NULL);
	if (status == OBJSTORE_OK)
	{
		if (resp.content_length < 0 || resp.etag[0] == '\0')
			status = objstore_fail(err, OBJSTORE_BAD_RESPONSE, (int) resp.http_status, "",
								   "HEAD %s: reply without Content-Length or ETag", fk);
		else
			fill_info(info, &resp, (uint64_t) resp.content_length);
	}
	objstore_buffer_free(&body);
	free(fk);
	return status;
}

/* S3's ETag of a single-part upload: the MD5 of the body */
static void
md5_hex(const void *data, size_t len, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[16];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
	{
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

static ObjStoreStatus
s3_put(ObjStore *store, const char *key, const void *data, size_t len,
	   ObjStorePutMode mode, const char *if_match, ObjStoreInfo *info,
	   ObjStoreError *err)
{
	S3Store    *s = (S3Store *) store;
	ObjStoreBuffer body = {0};
	S3Request	req = {.op = OBJSTORE_OP_PUT, .method = "PUT"};
	S3Response	resp = {.body = &body};
	char		hash[SIGV4_HEX_LEN];
	char	   *fk;
	int			ambiguous = 0;
	ObjStoreStatus status;

	if ((status = full_key(s, key, &fk, err)) != OBJSTORE_OK)
		return status;
	sigv4_sha256_hex(data, len, hash);
	req.key = fk;
	req.body = data;
	req.body_len = len;
	req.payload_hash = hash;
	req.if_none_match = (mode == OBJSTORE_PUT_IF_NONE_MATCH);
	/* unquoted: what AWS documents as accepted and what RGW compares */
	req.if_match = (mode == OBJSTORE_PUT_IF_MATCH) ? if_match : NULL;
	status = request(s, &req, &resp, err, &ambiguous);
	if (status == OBJSTORE_OK)
	{
		if (info != NULL)
			fill_info(info, &resp, len);
		if (info != NULL && info->etag[0] == '\0')
			md5_hex(data, len, info->etag); /* S3's ETag of a single-part upload */
	}
	else if (status == OBJSTORE_PRECONDITION_FAILED && ambiguous && err != NULL)
	{
		/*
		 * An earlier attempt may have written the object and be the reason
		 * for this 412.  We cannot tell (another writer may have written the
		 * same bytes), so we say so and let the caller decide.
		 */
		size_t		n = strlen(err->message);

		err->maybe_applied = 1;
		snprintf(err->message + n, sizeof(err->message) - n, "%s",
				 " (an earlier attempt failed in transit and may have written it)");
	}
	objstore_buffer_free(&body);
	free(fk);
	return status;
}

static ObjStoreStatus
s3_delete(ObjStore *store, const char *key, ObjStoreError *err)
{
	S3Store    *s = (S3Store *) store;
	ObjStoreBuffer body = {0};
	S3Request	req = {.op = OBJSTORE_OP_DELETE, .method = "DELETE"};
	S3Response	resp = {.body = &body};
	char	   *fk;
	ObjStoreStatus status;

	if ((status = full_key(s, key, &fk, err)) != OBJSTORE_OK)
		return status;
	req.key = fk;
	status = request(s, &req, &resp, err, NULL);
	if (status == OBJSTORE_NOT_FOUND)
	{
		/* some servers answer 404 where AWS answers 204: same outcome */
		objstore_clear_error(err);
		status = OBJSTORE_OK;
	}
	objstore_buffer_free(&body);
	free(fk);
	return status;
}

static ObjStoreStatus
s3_list(ObjStore *store, const char *prefix, const char *start_after,
		ObjStoreList *out, ObjStoreError *err)
{
	S3Store    *s = (S3Store *) store;
	ObjStoreBuffer body = {0};
	ObjStoreBuffer query = {0};
	ObjStoreBuffer token = {0};
	ObjStoreBuffer prev_token = {0};
	S3Request	req = {.op = OBJSTORE_OP_LIST, .method = "GET"};
	S3Response	resp = {.body = &body};
	char	   *fprefix = NULL;
	char	   *fstart = NULL;
	char		maxkeys[16];
	size_t		cap = 0;
	ObjStoreStatus status;

	if ((status = full_key(s, prefix, &fprefix, err)) != OBJSTORE_OK)
		return status;
	if (start_after[0] && (status = full_key(s, start_after, &fstart, err)) != OBJSTORE_OK)
		goto done;
	snprintf(maxkeys, sizeof(maxkeys), "%d", s->list_page_size);
	for (int page = 0;; page++)
	{
		SigV4Param	params[5];
		int			np = 0;
		int			truncated = 0;

		if (page >= MAX_LIST_PAGES)
		{
			status = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "",
								   "list did not end after %d pages", MAX_LIST_PAGES);
			goto done;
		}
		params[np++] = (SigV4Param) {"list-type", "2"};
		params[np++] = (SigV4Param) {"max-keys", maxkeys};
		if (fprefix[0])
			params[np++] = (SigV4Param) {"prefix", fprefix};
		if (page == 0 && fstart)
			params[np++] = (SigV4Param) {"start-after", fstart};
		if (page > 0)
			params[np++] = (SigV4Param) {"continuation-token", prev_token.data};
		query.len = 0;
		if (sigv4_canonical_query(params, np, &query) != OBJSTORE_OK)
		{
			status = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory listing");
			goto done;
		}
		req.query = query.data;
		status = request(s, &req, &resp, err, NULL);
		if (status != OBJSTORE_OK)
			goto done;
		status = s3_xml_list_page(body.data, body.len, s->prefix, strlen(s->prefix),
								  out, &cap, &truncated, &token, err);
		if (status != OBJSTORE_OK)
			goto done;
		if (!truncated)
			break;
		if (prev_token.data && strcmp(prev_token.data, token.data) == 0)
		{
			status = objstore_fail(err, OBJSTORE_BAD_RESPONSE, 200, "",
								   "list returned the same continuation token twice");
			goto done;
		}
		prev_token.len = 0;
		if (objstore_buffer_append(&prev_token, token.data, token.len) != OBJSTORE_OK)
		{
			status = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory listing");
			goto done;
		}
	}
done:
	objstore_buffer_free(&body);
	objstore_buffer_free(&query);
	objstore_buffer_free(&token);
	objstore_buffer_free(&prev_token);
	free(fprefix);
	free(fstart);
	return status;
}

/* ---------------------------------------------------------------- open */

static void
free_secret(char *p)
{
	if (p != NULL)
	{
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

static void
s3_close(ObjStore *store)
{
	S3Store    *s = (S3Store *) store;

	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->bucket);
	free(s->prefix);
	free(s->base_url);
	free(s->host);
	free(s->path_base);
	free(s->region);
	free_secret(s->access_key_id);
	free_secret(s->secret_access_key);
	free_secret(s->session_token);
	free(s);
}

static const ObjStoreBackendOps s3_ops = {
	.name = "s3",
	.get = s3_get,
	.put = s3_put,
	.head = s3_head,
	.delete = s3_delete,
	.list = s3_list,
	.close = s3_close,
};

static char *
dup_or_null(const char *v)
{
	return (v && v[0]) ? strdup(v) : NULL;
}

static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t		n = strlen(a) + strlen(b) + strlen(c) + 1;
	char	   *r = malloc(n);

	if (r != NULL)
		snprintf(r, n, "%s%s%s", a, b, c);
	return r;
}

ObjStore *
objstore_s3_open(const char *bucket, const char *prefix,
				 const ObjStoreConfig *c, ObjStoreError *err)
{
	S3Store    *s;
	const char *region = (c->region && c->region[0]) ? c->region : OBJSTORE_DEFAULT_REGION;
	char	   *endpoint = NULL;
	const char *hostpart;
	char	   *scheme = NULL;
	size_t		plen = strlen(prefix);

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
	{
		objstore_fail(err, OBJSTORE_NETWORK, 0, "", "libcurl could not be initialised");
		return NULL;
	}
	if (!c->access_key_id || !c->access_key_id[0] ||
		!c->secret_access_key || !c->secret_access_key[0])
	{
		objstore_fail(err, OBJSTORE_ACCESS_DENIED, 0, "NoCredentials",
					  "s3:// storage needs an access key id and a secret access key");
		return NULL;
	}
	for (const char *p = region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
		{
			objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "", "region \"%s\" is not valid", region);
			return NULL;
		}
	if (plen > 0 && (prefix[0] == '/' || objstore_key_check(prefix, NULL) != OBJSTORE_OK))
	{
		objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
					  "the prefix of the s3:// URL is not a valid key prefix");
		return NULL;
	}

	s = calloc(1, sizeof(S3Store));
	if (s == NULL)
		goto oom;
	s->base.ops = &s3_ops;

	/* endpoint: scheme://host[:port], no path */
	if (c->endpoint && c->endpoint[0])
		endpoint = strdup(c->endpoint);
	else
		endpoint = concat3("https://s3.", region, ".amazonaws.com");
	if (endpoint == NULL)
		goto oom;
	while (strlen(endpoint) > 0 && endpoint[strlen(endpoint) - 1] == '/')
		endpoint[strlen(endpoint) - 1] = '\0';
	if (strncmp(endpoint, "http://", 7) == 0)
		scheme = "http://";
	else if (strncmp(endpoint, "https://", 8) == 0)
		scheme = "https://";
	hostpart = scheme ? endpoint + strlen(scheme) : NULL;
	if (scheme == NULL || hostpart[0] == '\0' || strchr(hostpart, '/') != NULL ||
		strchr(hostpart, '@') != NULL || strchr(hostpart, '?') != NULL)
	{
		objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "",
					  "endpoint must look like http(s)://host[:port], without a path");
		free(endpoint);
		s3_close(&s->base);
		return NULL;
	}
	if (c->force_path_style)
	{
		s->host = strdup(hostpart);
		s->base_url = strdup(endpoint);
		s->path_base = concat3("/", bucket, "");
	}
	else
	{
		s->host = concat3(bucket, ".", hostpart);
		s->base_url = s->host ? concat3(scheme, s->host, "") : NULL;
		s->path_base = strdup("");
	}
	free(endpoint);
	endpoint = NULL;

	s->bucket = strdup(bucket);
	s->prefix = concat3(prefix, (plen > 0 && prefix[plen - 1] != '/') ? "/" : "", "");
	s->region = strdup(region);
	s->access_key_id = strdup(c->access_key_id);
	s->secret_access_key = strdup(c->secret_access_key);
	s->session_token = dup_or_null(c->session_token);
	if (!s->host || !s->base_url || !s->path_base || !s->bucket || !s->prefix ||
		!s->region || !s->access_key_id || !s->secret_access_key ||
		(c->session_token && c->session_token[0] && !s->session_token))
		goto oom;
	s->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : OBJSTORE_DEFAULT_TIMEOUT_MS;
	s->connect_timeout_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms :
		OBJSTORE_DEFAULT_CONNECT_TIMEOUT_MS;
	if (s->connect_timeout_ms > s->timeout_ms)
		s->connect_timeout_ms = s->timeout_ms;
	s->list_page_size = (c->list_page_size > 0 && c->list_page_size <= 1000) ?
		c->list_page_size : 1000;
	s->retry.max_attempts = c->max_attempts > 0 ? c->max_attempts : OBJSTORE_DEFAULT_MAX_ATTEMPTS;
	s->retry.base_ms = c->backoff_base_ms > 0 ? c->backoff_base_ms : OBJSTORE_DEFAULT_BACKOFF_BASE_MS;
	s->retry.cap_ms = c->backoff_cap_ms > 0 ? c->backoff_cap_ms : OBJSTORE_DEFAULT_BACKOFF_CAP_MS;
	s->rng = objstore_random_seed();
	s->curl = curl_easy_init();
	if (s->curl == NULL)
		goto oom;
	return &s->base;

oom:
	free(endpoint);
	if (s)
		s3_close(&s->base);
	objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "", "out of memory opening the s3 store");
	return NULL;
}

ObjStoreStatus
objstore_s3_describe(ObjStore *store, const char *key, ObjStoreBuffer *url,
					 ObjStoreBuffer *host)
{
	S3Store    *s = (S3Store *) store;
	ObjStoreBuffer path = {0};
	char	   *fk = NULL;
	ObjStoreStatus st;

	if (store->ops != &s3_ops)
		return OBJSTORE_INVALID_ARGUMENT;
	if ((st = full_key(s, key, &fk, NULL)) != OBJSTORE_OK)
		return st;
	if (build_path(s, fk, &path) != OBJSTORE_OK ||
		objstore_buffer_append(url, s->base_url, strlen(s->base_url)) != OBJSTORE_OK ||
		objstore_buffer_append(url, path.data, path.len) != OBJSTORE_OK ||
		objstore_buffer_append(host, s->host, strlen(s->host)) != OBJSTORE_OK)
		st = OBJSTORE_NO_MEMORY;
	objstore_buffer_free(&path);
	free(fk);
	return st;
}
