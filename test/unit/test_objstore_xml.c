/*
 * test_objstore_xml.c - unit test of the S3 reply parser (src/objstore/
 * objstore_s3_xml.c): ListObjectsV2 pages (entities, unicode, prefixes,
 * truncation, continuation tokens), error documents, dates, and every kind
 * of malformed reply we can think of, which must give a bad-response error
 * and never a crash or a half-filled list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_internal.h"
#include "objstore_s3_xml.h"
#include "test_report.h"

static const char page1[] =
"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
"<Name>b</Name><Prefix>pre/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
"<IsTruncated>true</IsTruncated>"
"<Contents><Key>pre/a &amp; b</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
"<StorageClass>STANDARD</StorageClass></Contents>"
"<Contents><Key>pre/caf&#233;/&#x2713;&lt;&gt;&apos;&quot;</Key><LastModified>2024-02-29T00:00:00Z</LastModified>"
"<ETag>\"e\"</ETag><Size>0</Size><Owner><ID>x</ID><DisplayName>y</DisplayName></Owner></Contents>"
"<Contents><Key>pre/z</Key><LastModified>1970-01-01T00:00:01.5Z</LastModified>"
"<ETag>&quot;abc-2&quot;</ETag><Size>18446744073709551615</Size></Contents>"
"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
"</ListBucketResult>";

static ObjStoreStatus
parse(const char *doc, const char *strip, ObjStoreList *list, int *trunc,
	  ObjStoreBuffer *token, ObjStoreError *err)
{
	size_t		cap = 0;

	list->entries = NULL;
	list->count = 0;
	return s3_xml_list_page(doc, strlen(doc), strip, strlen(strip), list, &cap,
							trunc, token, err);
}

static void
test_list_page(void)
{
	ObjStoreList list;
	ObjStoreBuffer token = {0};
	ObjStoreError err;
	int			trunc = -1;
	ObjStoreStatus st = parse(page1, "pre/", &list, &trunc, &token, &err);

	report(st == OBJSTORE_OK, "a truncated page parses", err.message);
	report(list.count == 3, "three entries", "");
	if (list.count == 3)
	{
		report(strcmp(list.entries[0].key, "a & b") == 0, "entity in key decoded, prefix stripped",
			   list.entries[0].key);
		report(strcmp(list.entries[1].key, "caf\xc3\xa9/\xe2\x9c\x93<>'\"") == 0,
			   "numeric references decoded to UTF-8", list.entries[1].key);
		report(list.entries[0].info.size == 434234 && list.entries[1].info.size == 0 &&
			   list.entries[2].info.size == UINT64_MAX, "sizes", "");
		report(strcmp(list.entries[0].info.etag, "fba9dede5f27731c9771645a39863328") == 0 &&
			   strcmp(list.entries[1].info.etag, "e") == 0 &&
			   strcmp(list.entries[2].info.etag, "abc-2") == 0, "ETags without quotes", "");
		report(list.entries[0].info.last_modified == 1255369830 &&
			   list.entries[1].info.last_modified == 1709164800 &&
			   list.entries[2].info.last_modified == 1,
			   "LastModified with and without fractions", "");
	}
	report(trunc == 1, "IsTruncated read", "");
	report(token.data && strcmp(token.data, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") == 0,
		   "continuation token read", token.data ? token.data : "(null)");
	objstore_list_free(&list);

	/* last page: not truncated, no token, no entries */
	st = parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
			   "", &list, &trunc, &token, &err);
	report(st == OBJSTORE_OK && list.count == 0 && trunc == 0 && token.len == 0,
		   "an empty last page", err.message);
	objstore_list_free(&list);

	/* the store's prefix itself as a key (a "folder" marker): skipped */
	st = parse("<ListBucketResult><Contents><Key>pre/</Key><Size>0</Size>"
			   "<LastModified>2009-10-12T17:50:30Z</LastModified></Contents>"
			   "<Contents><Key>pre/x</Key><Size>0</Size>"
			   "<LastModified>2009-10-12T17:50:30Z</LastModified></Contents>"
			   "<IsTruncated>false</IsTruncated></ListBucketResult>",
			   "pre/", &list, &trunc, &token, &err);
	report(st == OBJSTORE_OK && list.count == 1 && strcmp(list.entries[0].key, "x") == 0,
		   "the prefix's own folder marker is skipped", err.message);
	objstore_list_free(&list);
	objstore_buffer_free(&token);
}

static void
test_bad_pages(void)
{
	static const char *const bad[] = {
		"",
		"<Error><Code>x</Code></Error>",
		"<ListBucketResult>",	/* no IsTruncated */
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",	/* no token */
		"<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
		"<LastModified>2009-10-12T17:50:30.000Z</LastModified></ListBucketResult>",	/* unterminated */
		"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>12x</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",	/* no Key */
		"<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#xD800;</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a&#x;</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Key>other/k</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",	/* outside the prefix */
		"<ListBucketResult><Contents><Key>pre/<b>x</b></Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",	/* markup in text */
		"<ListBucketResult><Contents><Key>pre/k</Key><Size>1</Size><LastModified>2009-10-12T17:50:30Z</LastModified>"
		"<ETag>&quot;0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789&quot;</ETag>"
		"</Contents><IsTruncated>false</IsTruncated></ListBucketResult>",	/* ETag too long */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		ObjStoreList list;
		ObjStoreBuffer token = {0};
		ObjStoreError err;
		int			trunc;
		char		desc[64];
		const char *strip = (i >= 14) ? "pre/" : "";
		ObjStoreStatus st;

		memset(&err, 0, sizeof(err));
		st = parse(bad[i], strip, &list, &trunc, &token, &err);
		snprintf(desc, sizeof(desc), "malformed list page %zu is a bad response", i);
		report(st == OBJSTORE_BAD_RESPONSE && err.status == OBJSTORE_BAD_RESPONSE &&
			   err.message[0] != '\0', desc, bad[i]);
		objstore_list_free(&list);
		objstore_buffer_free(&token);
	}
}

static void
test_error_doc(void)
{
	char		code[OBJSTORE_CODE_LEN];
	char		msg[OBJSTORE_MESSAGE_LEN];
	const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
		"<Message>Please reduce\nyour request &amp; rate.</Message><RequestId>1</RequestId></Error>";
	char		longdoc[2048];

	report(s3_xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)) == 1 &&
		   strcmp(code, "SlowDown") == 0 &&
		   strcmp(msg, "Please reduce your request & rate.") == 0,
		   "error document: code and one-line message", msg);
	report(s3_xml_error("", 0, code, sizeof(code), msg, sizeof(msg)) == 0 && code[0] == '\0',
		   "an empty body is no error document", "");
	report(s3_xml_error("<html>oops</html>", 17, code, sizeof(code), msg, sizeof(msg)) == 0,
		   "an HTML page is no error document", "");
	snprintf(longdoc, sizeof(longdoc), "<Error><Code>%0600d</Code><Message>%01000d</Message></Error>", 1, 2);
	report(s3_xml_error(longdoc, strlen(longdoc), code, sizeof(code), msg, sizeof(msg)) == 1 &&
		   strlen(code) == sizeof(code) - 1 && strlen(msg) == sizeof(msg) - 1,
		   "long code and message are cut to their buffers", "");
}

static void
test_dates(void)
{
	report(s3_parse_iso8601("2009-10-12T17:50:30.000Z") == 1255369830, "ISO 8601 with millis", "");
	report(s3_parse_iso8601("2009-10-12T17:50:30Z") == 1255369830, "ISO 8601 without", "");
	report(s3_parse_iso8601("2009-10-12T17:50:30+01:00") == -1, "offsets other than Z refused", "");
	report(s3_parse_iso8601("2009-10-12") == -1, "a date alone refused", "");
	report(s3_parse_iso8601("") == -1, "empty refused", "");
}

int
main(void)
{
	test_list_page();
	test_bad_pages();
	test_error_doc();
	test_dates();
	return report_summary();
}
