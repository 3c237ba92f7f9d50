/*
 * test_objstore_sigv4.c - unit test of the SigV4 signer (src/objstore/
 * objstore_sigv4.c) against the example signatures AWS publishes.
 *
 * Vectors, with their sources:
 *
 *  [S3] Amazon S3 API Reference, "Authenticating Requests: Using the
 *       Authorization Header (AWS Signature Version 4)", section "Examples:
 *       Signature Calculations" (single chunk payload),
 *       https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 *       Access key AKIAIOSFODNN7EXAMPLE, secret
 *       wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket examplebucket,
 *       us-east-1, 20130524T000000Z: GET Object (with Range), PUT Object
 *       ("Welcome to Amazon S3."), GET Bucket Lifecycle, GET Bucket (List
 *       Objects).  The documented canonical request, string to sign and
 *       signature of each are checked.
 *  [KEY] AWS General Reference, "Examples of how to derive a signing key
 *       for Signature Version 4": secret
 *       wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
 *  [SUITE] AWS Signature Version 4 test suite, "get-vanilla": service
 *       "service", us-east-1, 20150830T123600Z, key AKIDEXAMPLE.
 *
 * Plus the encoding rules the vectors do not cover: RFC 3986 encoding of
 * keys (spaces, unicode, '+', '=', '/'), canonical query sorting and
 * encoding of continuation tokens, header value trimming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_internal.h"
#include "objstore_sigv4.h"
#include "test_report.h"

#define S3_KEY "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
check_str(const char *desc, const char *got, const char *want)
{
	char		details[4096];

	snprintf(details, sizeof(details), "\n--- got:\n%s\n--- want:\n%s", got ? got : "(null)", want);
	report(got != NULL && strcmp(got, want) == 0, desc, details);
}

/* Check canonical request, string to sign, Authorization of one example. */
static void
check_example(const char *name, const SigV4Request *req, const char *creq_want,
			  const char *sts_want, const char *auth_want)
{
	ObjStoreBuffer creq = {0};
	ObjStoreBuffer sh = {0};
	ObjStoreBuffer sts = {0};
	ObjStoreBuffer auth = {0};
	char		sig[SIGV4_HEX_LEN];
	char		desc[128];

	sigv4_canonical_request(req, &creq, &sh);
	snprintf(desc, sizeof(desc), "%s: canonical request", name);
	check_str(desc, creq.data, creq_want);
	sigv4_string_to_sign(req, &sts);
	snprintf(desc, sizeof(desc), "%s: string to sign", name);
	check_str(desc, sts.data, sts_want);
	sigv4_authorization(req, &auth, sig);
	snprintf(desc, sizeof(desc), "%s: Authorization header", name);
	check_str(desc, auth.data, auth_want);
	objstore_buffer_free(&creq);
	objstore_buffer_free(&sh);
	objstore_buffer_free(&sts);
	objstore_buffer_free(&auth);
}

static SigV4Request
s3_request(const char *method, const char *uri, const char *query,
		   const SigV4Header *h, int nh, const char *payload_hash)
{
	SigV4Request r;

	r.method = method;
	r.canonical_uri = uri;
	r.canonical_query = query;
	r.headers = h;
	r.n_headers = nh;
	r.payload_hash = payload_hash;
	r.amz_date = S3_DATE;
	r.region = "us-east-1";
	r.service = "s3";
	r.access_key_id = S3_KEY;
	r.secret_access_key = S3_SECRET;
	return r;
}

static void
test_s3_get_object(void)
{
	/* headers deliberately out of order: the signer sorts them */
	SigV4Header h[] = {
		{"x-amz-date", S3_DATE},
		{"range", "bytes=0-9"},
		{"host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", EMPTY_HASH},
	};
	SigV4Request r = s3_request("GET", "/test.txt", "", h, 4, EMPTY_HASH);

	check_example("[S3] GET Object", &r,
				  "GET\n/test.txt\n\n"
				  "host:examplebucket.s3.amazonaws.com\n"
				  "range:bytes=0-9\n"
				  "x-amz-content-sha256:" EMPTY_HASH "\n"
				  "x-amz-date:20130524T000000Z\n\n"
				  "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
				  "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
				  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
				  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
				  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
				  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void
test_s3_put_object(void)
{
	const char *body = "Welcome to Amazon S3.";
	char		hash[SIGV4_HEX_LEN];
	ObjStoreBuffer uri = {0};
	SigV4Header h[5];
	SigV4Request r;

	sigv4_sha256_hex(body, strlen(body), hash);
	check_str("[S3] PUT Object: payload hash", hash,
			  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	/* the key "test$file.text" encodes to /test%24file.text */
	objstore_buffer_append(&uri, "/", 1);
	sigv4_uri_encode("test$file.text", 14, 1, &uri);
	check_str("[S3] PUT Object: encoded key", uri.data, "/test%24file.text");
	h[0] = (SigV4Header) {"date", "Fri, 24 May 2013 00:00:00 GMT"};
	h[1] = (SigV4Header) {"host", "examplebucket.s3.amazonaws.com"};
	h[2] = (SigV4Header) {"x-amz-content-sha256", hash};
	h[3] = (SigV4Header) {"x-amz-date", S3_DATE};
	h[4] = (SigV4Header) {"x-amz-storage-class", "REDUCED_REDUNDANCY"};
	r = s3_request("PUT", uri.data, "", h, 5, hash);
	check_example("[S3] PUT Object", &r,
				  "PUT\n/test%24file.text\n\n"
				  "date:Fri, 24 May 2013 00:00:00 GMT\n"
				  "host:examplebucket.s3.amazonaws.com\n"
				  "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
				  "x-amz-date:20130524T000000Z\n"
				  "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
				  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
				  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
				  "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
				  "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
				  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
				  "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
				  "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	objstore_buffer_free(&uri);
}

static void
test_s3_lifecycle(void)
{
	SigV4Header h[] = {
		{"host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", EMPTY_HASH},
		{"x-amz-date", S3_DATE},
	};
	SigV4Param q[] = {{"lifecycle", ""}};
	ObjStoreBuffer query = {0};
	SigV4Request r;

	sigv4_canonical_query(q, 1, &query);
	check_str("[S3] GET Bucket Lifecycle: canonical query", query.data, "lifecycle=");
	r = s3_request("GET", "/", query.data, h, 3, EMPTY_HASH);
	check_example("[S3] GET Bucket Lifecycle", &r,
				  "GET\n/\nlifecycle=\n"
				  "host:examplebucket.s3.amazonaws.com\n"
				  "x-amz-content-sha256:" EMPTY_HASH "\n"
				  "x-amz-date:20130524T000000Z\n\n"
				  "host;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
				  "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
				  "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
				  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
				  "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
				  "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	objstore_buffer_free(&query);
}

static void
test_s3_list_objects(void)
{
	SigV4Header h[] = {
		{"host", "examplebucket.s3.amazonaws.com"},
		{"x-amz-content-sha256", EMPTY_HASH},
		{"x-amz-date", S3_DATE},
	};
	/* given out of order: the canonical query sorts them */
	SigV4Param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	ObjStoreBuffer query = {0};
	SigV4Request r;

	sigv4_canonical_query(q, 2, &query);
	check_str("[S3] GET Bucket (List Objects): canonical query", query.data,
			  "max-keys=2&prefix=J");
	r = s3_request("GET", "/", query.data, h, 3, EMPTY_HASH);
	check_example("[S3] GET Bucket (List Objects)", &r,
				  "GET\n/\nmax-keys=2&prefix=J\n"
				  "host:examplebucket.s3.amazonaws.com\n"
				  "x-amz-content-sha256:" EMPTY_HASH "\n"
				  "x-amz-date:20130524T000000Z\n\n"
				  "host;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
				  "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
				  "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
				  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
				  "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
				  "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	objstore_buffer_free(&query);
}

static void
test_signing_key(void)
{
	unsigned char key[32];
	char		hex[65];

	sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
					  "us-east-1", "iam", key);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	check_str("[KEY] derived signing key", hex,
			  "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void
test_suite_get_vanilla(void)
{
	SigV4Header h[] = {
		{"host", "example.amazonaws.com"},
		{"x-amz-date", "20150830T123600Z"},
	};
	SigV4Request r;
	ObjStoreBuffer auth = {0};
	char		sig[SIGV4_HEX_LEN];

	r.method = "GET";
	r.canonical_uri = "/";
	r.canonical_query = "";
	r.headers = h;
	r.n_headers = 2;
	r.payload_hash = EMPTY_HASH;
	r.amz_date = "20150830T123600Z";
	r.region = "us-east-1";
	r.service = "service";
	r.access_key_id = "AKIDEXAMPLE";
	r.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	sigv4_authorization(&r, &auth, sig);
	check_str("[SUITE] get-vanilla signature", sig,
			  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	/* the suite separates the parts with ", "; S3's examples (above) use "," */
	report(strstr(auth.data, "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,") != NULL &&
		   strstr(auth.data, "SignedHeaders=host;x-amz-date,") != NULL,
		   "[SUITE] get-vanilla credential scope and signed headers", auth.data);
	objstore_buffer_free(&auth);
}

static void
test_encoding(void)
{
	ObjStoreBuffer b = {0};
	const char *utf8 = "caf\xc3\xa9 \xe2\x9c\x93/x+y=z~_.-";

	sigv4_uri_encode(utf8, strlen(utf8), 1, &b);
	check_str("key encoding keeps '/', encodes space, unicode, '+', '='", b.data,
			  "caf%C3%A9%20%E2%9C%93/x%2By%3Dz~_.-");
	b.len = 0;
	sigv4_uri_encode(utf8, strlen(utf8), 0, &b);
	check_str("query encoding also encodes '/'", b.data,
			  "caf%C3%A9%20%E2%9C%93%2Fx%2By%3Dz~_.-");
	objstore_buffer_free(&b);

	{
		/* a continuation token as S3 returns them: '=', '/', '+' */
		SigV4Param q[] = {
			{"prefix", "a b/"},
			{"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="},
			{"list-type", "2"},
			{"max-keys", "1000"},
			{"start-after", "k+1"},
		};
		ObjStoreBuffer query = {0};

		sigv4_canonical_query(q, 5, &query);
		check_str("canonical query: sorted by name, values fully encoded", query.data,
				  "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"
				  "&list-type=2&max-keys=1000&prefix=a%20b%2F&start-after=k%2B1");
		objstore_buffer_free(&query);
	}
	{
		/* same name twice: sorted by value */
		SigV4Param q[] = {{"b", "2"}, {"a", "z"}, {"b", "1"}};
		ObjStoreBuffer query = {0};

		sigv4_canonical_query(q, 3, &query);
		check_str("canonical query: equal names sorted by value", query.data, "a=z&b=1&b=2");
		objstore_buffer_free(&query);
	}
	{
		SigV4Header h[] = {{"x-amz-meta-a", "  two   spaces  here "}, {"host", "h"}};
		SigV4Request r = s3_request("GET", "/", "", h, 2, EMPTY_HASH);
		ObjStoreBuffer creq = {0};
		ObjStoreBuffer sh = {0};

		sigv4_canonical_request(&r, &creq, &sh);
		report(strstr(creq.data, "\nx-amz-meta-a:two spaces here\n") != NULL,
			   "header values trimmed, inner runs of spaces collapsed", creq.data);
		check_str("signed headers sorted", sh.data, "host;x-amz-meta-a");
		objstore_buffer_free(&creq);
		objstore_buffer_free(&sh);
	}
	{
		/* a different secret or date gives a different signature */
		SigV4Header h[] = {{"host", "h"}, {"x-amz-date", S3_DATE}};
		SigV4Request r = s3_request("GET", "/k", "", h, 2, EMPTY_HASH);
		char		s1[SIGV4_HEX_LEN];
		char		s2[SIGV4_HEX_LEN];
		char		s3[SIGV4_HEX_LEN];
		ObjStoreBuffer a = {0};

		sigv4_authorization(&r, &a, s1);
		r.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";
		a.len = 0;
		sigv4_authorization(&r, &a, s2);
		r.secret_access_key = S3_SECRET;
		r.amz_date = "20130525T000000Z";
		a.len = 0;
		sigv4_authorization(&r, &a, s3);
		report(strcmp(s1, s2) != 0 && strcmp(s1, s3) != 0,
			   "signature depends on the secret and the date", "");
		report(strstr(a.data, S3_SECRET) == NULL, "Authorization never contains the secret", a.data);
		r.amz_date = "2013";
		a.len = 0;
		report(sigv4_authorization(&r, &a, s3) == OBJSTORE_INVALID_ARGUMENT,
			   "a malformed x-amz-date is refused", "");
		objstore_buffer_free(&a);
	}
}

int
main(void)
{
	test_s3_get_object();
	test_s3_put_object();
	test_s3_lifecycle();
	test_s3_list_objects();
	test_signing_key();
	test_suite_get_vanilla();
	test_encoding();
	return report_summary();
}
