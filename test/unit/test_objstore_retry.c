/*
 * test_objstore_retry.c - unit test of the S3 backend's request handling
 * without an S3 server: the retry policy (backoff ceilings, full jitter,
 * which statuses are retried), and the client against the fault-injecting
 * proxy (test/unit/fault_proxy.c) answering canned replies: 500, 503
 * SlowDown, 429, 409, dropped connections and delays past the timeout are
 * retried; 403, 404, 412 and 400 are not; bad replies are reported; what
 * the client sends (signed headers, conditional headers, no Expect, one
 * kept-alive connection); URLs of both addressing styles; open-time
 * argument checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_proxy.h"
#include "objstore_internal.h"
#include "objstore_retry.h"
#include "test_report.h"

#define KEY_ID "AKIDTESTRETRY0000001"
#define SECRET "retry/secret+value/0000000000000000000000"

static char *
fmt_err(const ObjStoreError *e)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "[%s http=%d code=%s attempts=%d] %s",
			 objstore_status_name(e->status), e->http_status, e->code,
			 e->attempts, e->message);
	return buf;
}

static void
test_policy(void)
{
	ObjStoreRetryPolicy p = {5, 50, 2000};
	static const uint64_t want[] = {50, 100, 200, 400, 800, 1600, 2000, 2000};
	int			ok = 1;
	uint64_t	rng = 42;
	double		sum = 0;
	uint64_t	lo = UINT64_MAX,
				hi = 0;

	for (int i = 0; i < 8; i++)
		if (objstore_retry_ceiling_ms(&p, i + 1) != want[i])
			ok = 0;
	report(ok, "backoff ceilings double from the base up to the cap", "");
	report(objstore_retry_ceiling_ms(&p, 1000) == 2000, "the ceiling never passes the cap (no overflow)", "");
	ok = 1;
	for (int i = 0; i < 20000; i++)
	{
		uint64_t	d = objstore_retry_delay_ms(&p, 7, &rng);

		if (d > 2000)
			ok = 0;
		sum += (double) d;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	report(ok, "full jitter: every delay within [0, ceiling]", "");
	report(sum / 20000 > 900 && sum / 20000 < 1100 && lo < 50 && hi > 1950,
		   "full jitter: uniform over the whole range (mean near half the ceiling)", "");

	report(objstore_status_retryable(OBJSTORE_SERVER_ERROR) && objstore_status_retryable(OBJSTORE_THROTTLED) &&
		   objstore_status_retryable(OBJSTORE_TIMEOUT) && objstore_status_retryable(OBJSTORE_NETWORK) &&
		   objstore_status_retryable(OBJSTORE_CONFLICT),
		   "5xx, throttling, timeouts, network errors and 409 conflicts are retryable", "");
	report(!objstore_status_retryable(OBJSTORE_NOT_FOUND) && !objstore_status_retryable(OBJSTORE_PRECONDITION_FAILED) &&
		   !objstore_status_retryable(OBJSTORE_ACCESS_DENIED) && !objstore_status_retryable(OBJSTORE_INVALID_ARGUMENT) &&
		   !objstore_status_retryable(OBJSTORE_BAD_RESPONSE) && !objstore_status_retryable(OBJSTORE_OK),
		   "404, 412, 403, other 4xx and bad replies are not", "");
}

static ObjStore *
open_via(FaultProxy *fp, int max_attempts, int timeout_ms, const char *token)
{
	char		endpoint[64];
	ObjStoreConfig c = {0};
	ObjStoreError err;
	ObjStore   *s;

	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", fault_proxy_port(fp));
	c.endpoint = endpoint;
	c.access_key_id = KEY_ID;
	c.secret_access_key = SECRET;
	c.session_token = token;
	c.force_path_style = 1;
	c.max_attempts = max_attempts;
	c.timeout_ms = timeout_ms;
	c.backoff_base_ms = 2;
	c.backoff_cap_ms = 20;
	s = objstore_open("s3://bucket/pre", &c, &err);
	if (s == NULL)
	{
		fprintf(stderr, "open: %s\n", err.message);
		exit(2);
	}
	return s;
}

static const FaultAction ok200 = {.kind = FAULT_REPLY, .status = 200, .etag = "0123abcd", .body = "hello"};

static void
script(FaultProxy *fp, const FaultAction *a, int n)
{
	fault_proxy_script(fp, a, n, ok200);
}

static void
test_retried(FaultProxy *fp)
{
	ObjStore   *s = open_via(fp, 5, 500, NULL);
	ObjStoreBuffer b;
	ObjStoreInfo info;
	ObjStoreError err;
	ObjStoreStats st;
	ObjStoreStatus r;
	int			base;
	FaultAction a[4] = {
		{.kind = FAULT_REPLY, .status = 500, .code = "InternalError"},
		{.kind = FAULT_REPLY, .status = 503, .code = "SlowDown"},
		{.kind = FAULT_DROP},
		ok200,
	};

	script(fp, a, 4);
	base = fault_proxy_requests(fp);
	r = objstore_get(s, "k", NULL, &b, &info, &err);
	/*
	 * libcurl itself re-sends a request once when a reused connection turns
	 * out closed before any reply, so the drop may cost it no attempt of ours.
	 */
	report(r == OBJSTORE_OK && b.len == 5 && strcmp(b.data, "hello") == 0 &&
		   strcmp(info.etag, "0123abcd") == 0 && fault_proxy_requests(fp) - base == 4 &&
		   (err.attempts == 3 || err.attempts == 4),
		   "GET after 500, 503 SlowDown and a dropped connection: success", fmt_err(&err));
	objstore_buffer_free(&b);
	objstore_get_stats(s, &st);
	report(st.op[OBJSTORE_OP_GET].requests == (uint64_t) err.attempts &&
		   st.op[OBJSTORE_OP_GET].retries == (uint64_t) err.attempts - 1,
		   "requests and retries counted", "");

	a[0] = (FaultAction) {.kind = FAULT_REPLY, .status = 429, .code = "TooManyRequests"};
	script(fp, a, 1);
	a[1] = a[0];
	script(fp, (FaultAction[]) {a[0], a[0], a[0], a[0], a[0], a[0]}, 6);
	r = objstore_put(s, "k", "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	report(r == OBJSTORE_THROTTLED && err.attempts == 5 && err.http_status == 429,
		   "429 every time: throttled after max_attempts (5)", fmt_err(&err));

	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .delay_ms = 1200, .status = 200, .etag = "e"}}, 1);
	r = objstore_head(s, "k", &info, &err);
	report(r == OBJSTORE_OK && err.attempts == 2, "a reply slower than the timeout is retried", fmt_err(&err));

	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .delay_ms = 1200, .status = 200, .etag = "e"},
		   {.kind = FAULT_REPLY, .delay_ms = 1200, .status = 200, .etag = "e"}}, 2);
	{
		ObjStore   *s2 = open_via(fp, 2, 500, NULL);

		r = objstore_head(s2, "k", &info, &err);
		report(r == OBJSTORE_TIMEOUT && err.attempts == 2, "timeouts every time: timeout error", fmt_err(&err));
		objstore_close(s2);
	}

	/* 409 ConditionalRequestConflict is retried; the retry's 412 is final */
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 409, .code = "ConditionalRequestConflict"},
		   {.kind = FAULT_REPLY, .status = 412, .code = "PreconditionFailed"}}, 2);
	r = objstore_put(s, "k", "x", 1, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
	report(r == OBJSTORE_PRECONDITION_FAILED && err.attempts == 2 && !err.maybe_applied,
		   "409 conflict retried, then 412 (not marked as maybe applied)", fmt_err(&err));

	/* a 500 before the 412: our own write may be the reason */
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 500, .code = "UnknownError"},
		   {.kind = FAULT_REPLY, .status = 412, .code = "PreconditionFailed"}}, 2);
	r = objstore_put(s, "k", "x", 1, OBJSTORE_PUT_IF_MATCH, "abc", NULL, &err);
	report(r == OBJSTORE_PRECONDITION_FAILED && err.maybe_applied,
		   "500 then 412 on a conditional put: 412 marked as maybe applied", fmt_err(&err));

	/* connection reuse: 20 requests, one connection */
	objstore_reset_stats(s);
	script(fp, NULL, 0);
	base = fault_proxy_requests(fp);
	for (int i = 0; i < 20; i++)
		objstore_head(s, "k", &info, NULL);
	objstore_get_stats(s, &st);
	report(fault_proxy_requests(fp) - base == 20 && st.connections == 0,
		   "20 requests over the already open connection", "");
	objstore_close(s);
}

static void
test_not_retried(FaultProxy *fp)
{
	ObjStore   *s = open_via(fp, 5, 1000, NULL);
	ObjStoreError err;
	ObjStoreStatus r;
	ObjStoreBuffer b;
	ObjStoreInfo info;
	ObjStoreList list;
	static const struct
	{
		int			status;
		const char *code;
		ObjStoreStatus want;
	}			cases[] = {
		{403, "SignatureDoesNotMatch", OBJSTORE_ACCESS_DENIED},
		{403, "AccessDenied", OBJSTORE_ACCESS_DENIED},
		{401, "Unauthorized", OBJSTORE_ACCESS_DENIED},
		{404, "NoSuchKey", OBJSTORE_NOT_FOUND},
		{412, "PreconditionFailed", OBJSTORE_PRECONDITION_FAILED},
		{400, "InvalidArgument", OBJSTORE_INVALID_ARGUMENT},
		{301, "PermanentRedirect", OBJSTORE_INVALID_ARGUMENT},
		{404, "NoSuchBucket", OBJSTORE_NOT_FOUND},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		desc[128];

		script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = cases[i].status, .code = cases[i].code}}, 1);
		r = objstore_get(s, "k", NULL, &b, NULL, &err);
		snprintf(desc, sizeof(desc), "%d %s: %s, not retried, code kept", cases[i].status,
				 cases[i].code, objstore_status_name(cases[i].want));
		report(r == cases[i].want && err.attempts == 1 && strcmp(err.code, cases[i].code) == 0 &&
			   err.http_status == cases[i].status, desc, fmt_err(&err));
	}
	report(strstr(err.message, "injected by the fault proxy") != NULL,
		   "the server's message is kept", err.message);

	/* a HEAD 404 has no body: the code is named from the status */
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 404}}, 1);
	r = objstore_head(s, "k", &info, &err);
	report(r == OBJSTORE_NOT_FOUND && strcmp(err.code, "NotFound") == 0, "HEAD 404: not found", fmt_err(&err));

	/* replies that break the protocol */
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 200}}, 1);
	r = objstore_head(s, "k", &info, &err);
	report(r == OBJSTORE_BAD_RESPONSE && err.attempts == 1, "HEAD 200 without an ETag: bad response", fmt_err(&err));
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 200, .etag = "e", .body = "<html>not xml</html>"}}, 1);
	r = objstore_list(s, "", NULL, &list, &err);
	report(r == OBJSTORE_BAD_RESPONSE && err.attempts == 1 && list.count == 0,
		   "list answered with HTML: bad response, not retried", fmt_err(&err));
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 200, .etag = "e",
			.body = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>same</NextContinuationToken></ListBucketResult>"},
		{.kind = FAULT_REPLY, .status = 200, .etag = "e",
			.body = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>same</NextContinuationToken></ListBucketResult>"}}, 2);
	r = objstore_list(s, "", NULL, &list, &err);
	report(r == OBJSTORE_BAD_RESPONSE, "a list whose continuation token repeats: bad response", fmt_err(&err));
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 200, .etag = "e",
			.body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>elsewhere/x</Key>"
		"<Size>1</Size><LastModified>2020-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>"}}, 1);
	r = objstore_list(s, "", NULL, &list, &err);
	report(r == OBJSTORE_BAD_RESPONSE, "a listed key outside the store's prefix: bad response", fmt_err(&err));
	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 206, .etag = "e", .body = "abc"}}, 1);
	r = objstore_get(s, "k", &(ObjStoreRange) {0, 3}, &b, &info, &err);
	report(r == OBJSTORE_BAD_RESPONSE, "206 without Content-Range: bad response", fmt_err(&err));
	objstore_close(s);
}

static void
test_requests_sent(FaultProxy *fp)
{
	ObjStore   *s = open_via(fp, 1, 1000, "session/token+value=");
	int			base;
	char	   *h;
	ObjStoreError err;

	script(fp, NULL, 0);
	base = fault_proxy_requests(fp);
	objstore_put(s, "dir/a b+c", "payload", 7, OBJSTORE_PUT_IF_MATCH, "abc123", NULL, &err);
	h = fault_proxy_request_head(fp, base);
	report(h != NULL && strncmp(h, "PUT /bucket/pre/dir/a%20b%2Bc HTTP/1.1\r\n", 40) == 0,
		   "path-style URL with the prefix, key encoded", h ? h : "");
	report(h && strcasestr(h, "\r\nIf-Match: abc123\r\n") != NULL, "If-Match sent without quotes", "");
	report(h && strcasestr(h, "\r\nx-amz-content-sha256: 239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5\r\n") != NULL,
		   "x-amz-content-sha256 is the body's SHA-256", "");
	report(h && strcasestr(h, "\r\nx-amz-security-token: session/token+value=\r\n") != NULL,
		   "the session token is sent", "");
	report(h && strstr(h, "Credential=" KEY_ID "/") != NULL &&
		   strstr(h, "SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date;x-amz-security-token,") != NULL,
		   "Authorization names the credential scope and signs the conditional header and token", h ? h : "");
	report(h && strstr(h, SECRET) == NULL, "the secret is never sent", "");
	report(h && strcasestr(h, "\r\nExpect:") == NULL, "no Expect: 100-continue round trip", "");
	free(h);

	objstore_put(s, "x", "", 0, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err);
	h = fault_proxy_request_head(fp, base + 1);
	report(h && strcasestr(h, "\r\nIf-None-Match: *\r\n") != NULL && strstr(h, "if-none-match;") != NULL,
		   "create-only sends and signs If-None-Match: *", h ? h : "");
	free(h);

	script(fp, (FaultAction[]) {{.kind = FAULT_REPLY, .status = 200,
			.body = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"}}, 1);
	{
		ObjStoreList list;

		objstore_list(s, "p q/", "p q/x=1", &list, &err);
		objstore_list_free(&list);
	}
	h = fault_proxy_request_head(fp, base + 2);
	report(h && strncmp(h, "GET /bucket?list-type=2&max-keys=1000&prefix=pre%2Fp%20q%2F&start-after=pre%2Fp%20q%2Fx%3D1 ", 89) == 0,
		   "list: canonical, fully encoded query with the store's prefix", h ? h : "");
	free(h);
	objstore_close(s);
}

static void
test_urls_and_open(void)
{
	ObjStoreConfig c = {0};
	ObjStoreError err;
	ObjStore   *s;
	ObjStoreBuffer url = {0};
	ObjStoreBuffer host = {0};

	c.access_key_id = KEY_ID;
	c.secret_access_key = SECRET;
	c.region = "eu-west-1";
	s = objstore_open("s3://my-bucket/some/prefix/", &c, &err);
	report(s != NULL, "open s3:// with defaults", fmt_err(&err));
	if (s)
	{
		objstore_s3_describe(s, "k/\xc3\xa9", &url, &host);
		report(strcmp(url.data, "https://my-bucket.s3.eu-west-1.amazonaws.com/some/prefix/k/%C3%A9") == 0 &&
			   strcmp(host.data, "my-bucket.s3.eu-west-1.amazonaws.com") == 0,
			   "default: virtual-hosted style on AWS's regional endpoint", url.data);
		objstore_close(s);
	}
	url.len = host.len = 0;
	c.endpoint = "http://127.0.0.1:9000/";
	c.force_path_style = 1;
	s = objstore_open("s3://b", &c, &err);
	if (s)
	{
		objstore_s3_describe(s, "k", &url, &host);
		report(strcmp(url.data, "http://127.0.0.1:9000/b/k") == 0 && strcmp(host.data, "127.0.0.1:9000") == 0,
			   "path style on a custom endpoint", url.data);
		objstore_close(s);
	}
	objstore_buffer_free(&url);
	objstore_buffer_free(&host);

	c.force_path_style = 0;
	c.endpoint = "ftp://x";
	report(objstore_open("s3://b", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "an endpoint that is not http(s) is refused", fmt_err(&err));
	c.endpoint = "http://host/path";
	report(objstore_open("s3://b", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "an endpoint with a path is refused", fmt_err(&err));
	c.endpoint = "http://user:pw@host";
	report(objstore_open("s3://b", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "an endpoint with credentials in it is refused", fmt_err(&err));
	c.endpoint = NULL;
	c.region = "us east";
	report(objstore_open("s3://b", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "a malformed region is refused", fmt_err(&err));
	c.region = NULL;
	c.secret_access_key = "";
	report(objstore_open("s3://b", &c, &err) == NULL && err.status == OBJSTORE_ACCESS_DENIED &&
		   strcmp(err.code, "NoCredentials") == 0, "no secret: access denied at open", fmt_err(&err));
	c.secret_access_key = SECRET;
	report(objstore_open("s3://", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "s3:// without a bucket is refused", fmt_err(&err));
	report(objstore_open("s3://b/../x", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "a prefix with .. is refused", fmt_err(&err));
	report(objstore_open("gs://b", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "an unknown scheme is refused", fmt_err(&err));
	report(objstore_open("", &c, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "an empty URL is refused", fmt_err(&err));
}

static void
test_refused(void)
{
	/* a port nothing listens on: bind one, then close it */
	FaultProxy *fp = fault_proxy_start(0);
	int			port = fault_proxy_port(fp);
	char		endpoint[64];
	ObjStoreConfig c = {0};
	ObjStoreError err;
	ObjStore   *s;
	ObjStoreInfo info;

	fault_proxy_stop(fp);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	c.endpoint = endpoint;
	c.access_key_id = KEY_ID;
	c.secret_access_key = SECRET;
	c.force_path_style = 1;
	c.max_attempts = 3;
	c.backoff_base_ms = 1;
	c.backoff_cap_ms = 5;
	s = objstore_open("s3://b", &c, &err);
	report(objstore_head(s, "k", &info, &err) == OBJSTORE_NETWORK && err.attempts == 3,
		   "connection refused: network error after every attempt", fmt_err(&err));
	report(strstr(err.message, SECRET) == NULL && strstr(err.message, KEY_ID) == NULL,
		   "network error messages carry no credentials", err.message);
	objstore_close(s);
}

int
main(void)
{
	FaultProxy *fp;

	test_policy();
	fp = fault_proxy_start(0);
	if (fp == NULL)
	{
		report(0, "fault proxy starts", "");
		return report_summary();
	}
	test_retried(fp);
	test_not_retried(fp);
	test_requests_sent(fp);
	fault_proxy_stop(fp);
	test_urls_and_open();
	test_refused();
	return report_summary();
}
