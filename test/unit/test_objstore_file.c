/*
 * test_objstore_file.c - unit test of what is particular to the file://
 * backend (src/objstore/objstore_file.c) and of key validation
 * (objstore_key.c): the escaped on-disk layout, symlinks planted inside the
 * directory (never followed, for reads, writes, deletes and lists), our own
 * temporary and lock files and foreign files (never listed), ETags as
 * content hashes (a file changed behind our back changes its ETag and
 * fails a stale compare-and-swap), the fsync'ed write path, and URL checks.
 * The shared contract (every operation, races) is test_objstore_contract.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore_internal.h"
#include "test_report.h"

static char root[300];
static char outside[320];

static char *
fmt_err(const ObjStoreError *e)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "[%s code=%s] %s", objstore_status_name(e->status),
			 e->code, e->message);
	return buf;
}

static int
exists(const char *rel)
{
	char		p[600];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static void
write_file(const char *path, const char *content)
{
	FILE	   *f = fopen(path, "w");

	if (f)
	{
		fputs(content, f);
		fclose(f);
	}
}

static void
test_keys(void)
{
	static const char *const good[] = {
		"a", "a/b", "a b", "dir/", "a//b", "...", "..a", "a..", ".hidden", "x/.y/z",
		"caf\xc3\xa9", "\xf0\x9f\x98\x80", "%", "%d", "%e", "%lock", "%tmp", "+=&?#",
	};
	static const char *const bad[] = {
		"", "/", "/a", ".", "..", "../a", "a/..", "a/../b", "./a", "a/.", "a/./b",
		"\x01", "a\nb", "a\rb", "a\tb", "a\x7f", "\x80", "\xc3", "\xc0\x80",
		"\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff",
	};
	char		longest[OBJSTORE_KEY_MAX + 1];
	char		toolong[OBJSTORE_KEY_MAX + 2];
	int			ok = 1;
	ObjStoreError err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (objstore_key_check(good[i], &err) != OBJSTORE_OK)
		{
			printf("# refused good key %zu: %s\n", i, err.message);
			ok = 0;
		}
	report(ok, "valid keys accepted (dots inside names, '%', spaces, unicode, trailing '/')", "");
	ok = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (objstore_key_check(bad[i], &err) != OBJSTORE_INVALID_ARGUMENT || err.message[0] == '\0')
		{
			printf("# accepted bad key %zu\n", i);
			ok = 0;
		}
	report(ok, "invalid keys refused: empty, absolute, . and .. segments, control characters, bad UTF-8", "");
	report(objstore_key_check(NULL, &err) == OBJSTORE_INVALID_ARGUMENT, "a NULL key is refused", "");
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(toolong, 'x', sizeof(toolong) - 1);
	toolong[sizeof(toolong) - 1] = '\0';
	report(objstore_key_check(longest, &err) == OBJSTORE_OK &&
		   objstore_key_check(toolong, &err) == OBJSTORE_INVALID_ARGUMENT,
		   "1024 bytes accepted, 1025 refused", "");
}

static void
test_layout(ObjStore *s)
{
	ObjStoreError err;
	ObjStoreList list;
	char		seg[300];

	objstore_put(s, "a%b/c", "1", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	report(exists("a%25b%d/c"), "'%' escaped as %25; directories end in %d", "");
	objstore_put(s, "x/", "2", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	report(exists("x%d/%e"), "a key ending in '/' is stored as %e", "");
	objstore_put(s, "x", "3", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	report(exists("x") && exists("x%d"), "key x and directory x/ coexist", "");

	memset(seg, 's', 256);
	seg[256] = '\0';
	report(objstore_put(s, seg, "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) == OBJSTORE_INVALID_ARGUMENT &&
		   strcmp(err.code, "ENAMETOOLONG") == 0,
		   "a segment longer than a file name can be is refused", fmt_err(&err));
	report(objstore_list(s, "", NULL, &list, &err) == OBJSTORE_OK && list.count == 3 &&
		   strcmp(list.entries[0].key, "a%b/c") == 0 && strcmp(list.entries[1].key, "x") == 0 &&
		   strcmp(list.entries[2].key, "x/") == 0, "the names decode back to the keys", fmt_err(&err));
	objstore_list_free(&list);
}

static void
test_foreign_files(ObjStore *s)
{
	char		p[600];
	ObjStoreList list;
	ObjStoreError err;

	/* a torn temporary file from a crash, a lock file, names not ours */
	snprintf(p, sizeof(p), "%s/%%t00000000deadbeef", root);
	write_file(p, "half a wri");
	snprintf(p, sizeof(p), "%s/x%%d/%%t1", root);
	write_file(p, "torn");
	snprintf(p, sizeof(p), "%s/bad%%zz", root);
	write_file(p, "foreign");
	snprintf(p, sizeof(p), "%s/stray.d", root);
	mkdir(p, 0755);				/* a directory without %d: not ours */
	snprintf(p, sizeof(p), "%s/stray.d/k", root);
	write_file(p, "foreign");
	report(objstore_list(s, "", NULL, &list, &err) == OBJSTORE_OK && list.count == 3,
		   "temporary, lock and foreign files are never listed", fmt_err(&err));
	objstore_list_free(&list);
	report(objstore_list(s, "", NULL, &list, &err) == OBJSTORE_OK && list.count == 3,
		   "listing twice with one handle gives the same result", fmt_err(&err));
	objstore_list_free(&list);
}

static void
test_symlinks(ObjStore *s)
{
	char		p[600];
	char		target[600];
	ObjStoreError err;
	ObjStoreBuffer b;
	ObjStoreInfo info;
	ObjStoreList list;
	struct stat st;

	mkdir(outside, 0755);
	snprintf(target, sizeof(target), "%s/secret", outside);
	write_file(target, "outside the store");

	/* a symlinked directory */
	snprintf(p, sizeof(p), "%s/evil%%d", root);
	if (symlink(outside, p) != 0)
		perror("symlink");
	report(objstore_get(s, "evil/secret", NULL, &b, NULL, &err) == OBJSTORE_INVALID_ARGUMENT &&
		   strcmp(err.code, "ELOOP") == 0, "get through a symlinked directory is refused", fmt_err(&err));
	report(objstore_put(s, "evil/new", "x", 1, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) == OBJSTORE_INVALID_ARGUMENT,
		   "put through a symlinked directory is refused", fmt_err(&err));
	snprintf(p, sizeof(p), "%s/new", outside);
	report(stat(p, &st) != 0, "... and wrote nothing outside", "");
	report(objstore_delete(s, "evil/secret", &err) == OBJSTORE_INVALID_ARGUMENT && stat(target, &st) == 0,
		   "delete through a symlinked directory is refused; the target survives", fmt_err(&err));

	/* a symlink in an object's place */
	snprintf(p, sizeof(p), "%s/link", root);
	if (symlink(target, p) != 0)
		perror("symlink");
	report(objstore_get(s, "link", NULL, &b, NULL, &err) == OBJSTORE_INVALID_ARGUMENT,
		   "get of a symlink object is refused", fmt_err(&err));
	report(objstore_head(s, "link", &info, &err) == OBJSTORE_INVALID_ARGUMENT,
		   "head of a symlink object is refused", fmt_err(&err));
	report(objstore_put(s, "link", "x", 1, OBJSTORE_PUT_IF_MATCH, "00", NULL, &err) == OBJSTORE_INVALID_ARGUMENT,
		   "compare-and-swap over a symlink object is refused", fmt_err(&err));
	report(objstore_delete(s, "link", &err) == OBJSTORE_INVALID_ARGUMENT && stat(target, &st) == 0,
		   "delete of a symlink object is refused", fmt_err(&err));
	report(objstore_list(s, "", NULL, &list, &err) == OBJSTORE_OK && list.count == 3,
		   "list skips symlinks (files and directories)", fmt_err(&err));
	objstore_list_free(&list);
	/* a plain put replaces the symlink itself (rename), never its target */
	report(objstore_put(s, "link", "mine", 4, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) == OBJSTORE_OK &&
		   lstat(p, &st) == 0 && S_ISREG(st.st_mode), "a plain put replaces a symlink, not its target",
		   fmt_err(&err));
	{
		FILE	   *f = fopen(target, "r");
		char		buf[64] = "";

		if (f)
		{
			if (fgets(buf, sizeof(buf), f) == NULL)
				buf[0] = '\0';
			fclose(f);
		}
		report(strcmp(buf, "outside the store") == 0, "the symlink's target is unchanged", buf);
	}
}

static void
test_content_etag(ObjStore *s)
{
	ObjStoreInfo a,
				b;
	ObjStoreError err;
	char		p[600];
	int			fd;

	objstore_put(s, "hash/obj", "version one", 11, OBJSTORE_PUT_PLAIN, NULL, &a, &err);
	report(strlen(a.etag) == 32 && strspn(a.etag, "0123456789abcdef") == 32,
		   "ETag: 32 hex digits", a.etag);
	/* someone rewrites the file behind our back, same size */
	snprintf(p, sizeof(p), "%s/hash%%d/obj", root);
	fd = open(p, O_WRONLY | O_TRUNC);
	if (fd >= 0)
	{
		if (write(fd, "version two", 11) != 11)
			perror("write");
		close(fd);
	}
	report(objstore_head(s, "hash/obj", &b, &err) == OBJSTORE_OK && strcmp(a.etag, b.etag) != 0,
		   "the ETag follows the content, not the file", fmt_err(&err));
	report(objstore_put(s, "hash/obj", "x", 1, OBJSTORE_PUT_IF_MATCH, a.etag, NULL, &err) ==
		   OBJSTORE_PRECONDITION_FAILED, "a compare-and-swap on the old content fails", fmt_err(&err));
	report(objstore_put(s, "hash/obj", "x", 1, OBJSTORE_PUT_IF_MATCH, b.etag, NULL, &err) == OBJSTORE_OK,
		   "... and succeeds on the current content", fmt_err(&err));
}

static void
test_open(void)
{
	ObjStoreError err;
	ObjStore   *s;
	char		p[600];

	report(objstore_open("file://relative/dir", NULL, &err) == NULL && err.status == OBJSTORE_INVALID_ARGUMENT,
		   "a relative file:// directory is refused", fmt_err(&err));
	snprintf(p, sizeof(p), "file://%s/no/such/parent", root);
	report(objstore_open(p, NULL, &err) == NULL && err.status == OBJSTORE_NOT_FOUND,
		   "a directory whose parent is missing: not found", fmt_err(&err));
	snprintf(p, sizeof(p), "%s/plainfile", outside);
	write_file(p, "x");
	snprintf(p, sizeof(p), "file://%s/plainfile", outside);
	report(objstore_open(p, NULL, &err) == NULL && err.status != OBJSTORE_OK,
		   "a file where the directory should be is refused", fmt_err(&err));

	/* the default, fsync'ed path */
	snprintf(p, sizeof(p), "file://%s/synced", outside);
	s = objstore_open(p, NULL, &err);
	report(s != NULL && strcmp(objstore_backend_name(s), "file") == 0, "open creates the directory", fmt_err(&err));
	if (s)
	{
		ObjStoreBuffer b;

		report(objstore_put(s, "d/k", "durable", 7, OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err) == OBJSTORE_OK &&
			   objstore_put(s, "d/k", "again", 5, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) == OBJSTORE_OK &&
			   objstore_get(s, "d/k", NULL, &b, NULL, &err) == OBJSTORE_OK && strcmp(b.data, "again") == 0,
			   "fsync'ed create-only and plain puts", fmt_err(&err));
		objstore_buffer_free(&b);
		objstore_close(s);
	}
}

int
main(void)
{
	ObjStoreConfig c = {.no_fsync = 1};
	ObjStoreError err;
	ObjStore   *s;
	char		url[320];
	char		tmpl[200];
	char		cmd[700];

	snprintf(tmpl, sizeof(tmpl), "%s/brainy-objfile.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpl) == NULL)
	{
		perror("mkdtemp");
		return 2;
	}
	snprintf(root, sizeof(root), "%s/store", tmpl);
	snprintf(outside, sizeof(outside), "%s/outside", tmpl);
	snprintf(url, sizeof(url), "file://%s", root);

	test_keys();
	s = objstore_open(url, &c, &err);
	if (s == NULL)
	{
		report(0, "open", fmt_err(&err));
		return report_summary();
	}
	test_layout(s);
	test_foreign_files(s);
	test_symlinks(s);
	test_content_etag(s);
	objstore_close(s);
	test_open();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpl);
	return report_summary();
}
