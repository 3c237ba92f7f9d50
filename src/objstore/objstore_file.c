/*
 * objstore_file.c - the file:// backend: a bucket in a directory on this
 * machine, shared by every PostgreSQL server on it.
 *
 * Layout.  A key's segments (split at '/') become directories, its last
 * segment a regular file.  Since S3 lets "a" and "a/b" both be keys, names
 * are escaped so that object files and directories can never collide:
 *
 *	escape(seg)     seg with every '%' written "%25"; "" is written "%e"
 *	object file     escape(last segment)
 *	directory       escape(segment) + "%d"
 *
 * so in an escaped name a '%' is followed by "25" unless the name is one of
 * ours: directories end in "%d", temporary files start with "%t", and each
 * directory's lock file is "%lock".  Listing skips everything else.
 *
 * Safety.  Every path is walked segment by segment from the root's file
 * descriptor with O_NOFOLLOW, so a symlink planted inside DIR is never
 * followed (the operation fails), and keys with ".." or absolute paths are
 * refused before that (objstore_key.c).  Writes go to a temporary file in
 * the target directory, are fsync'ed, and then appear atomically:
 *
 *	create-only     link(tmp, name): fails with EEXIST if the key exists
 *	plain           rename(tmp, name) under the directory's lock
 *	compare-and-swap  under the directory's lock (flock on "%lock"): hash the
 *	                current object, compare with the caller's ETag, rename
 *
 * so a crash leaves the old object or the new one, never a torn one (a
 * stray temporary file at worst, which listing ignores).  Delete takes the
 * lock too, so it cannot slip between a compare-and-swap's check and its
 * rename.  Empty directories are left in place: removing one could race
 * with a writer that has just opened it.
 *
 * ETag = XXH3-128 of the content, 32 hex digits: equal content, equal ETag
 * (as with S3's MD5 ETags), computed when an object is read, headed or
 * listed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "objstore_internal.h"

typedef struct FileStore
{
	ObjStore	base;
	int			root_fd;
	int			no_fsync;
	uint64_t	rng;			/* temporary file names */
} FileStore;

#define LOCK_NAME "%lock"
#define DIR_SUFFIX "%d"
#define EMPTY_SEGMENT "%e"
#define HASH_CHUNK (1024 * 1024)

/* --------------------------------------------------------------- errors */

static ObjStoreStatus
errno_fail(ObjStoreError *err, int e, const char *what, const char *key)
{
	ObjStoreStatus status;
	const char *name = strerrorname_np(e);

	switch (e)
	{
		case ENOENT:
			status = OBJSTORE_NOT_FOUND;
			break;
		case EACCES:
		case EPERM:
			status = OBJSTORE_ACCESS_DENIED;
			break;
		case ELOOP:
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "ELOOP",
								 "%s \"%s\": a symlink inside the store's directory is not followed",
								 what, key);
		case ENAMETOOLONG:
			status = OBJSTORE_INVALID_ARGUMENT;
			break;
		case ENOMEM:
			status = OBJSTORE_NO_MEMORY;
			break;
		default:
			status = OBJSTORE_SERVER_ERROR;
			break;
	}
	return objstore_fail(err, status, 0, name ? name : "", "%s \"%s\": %s",
						 what, key, strerror(e));
}

/* ------------------------------------------------------------ names */

/* Escaped name of a segment plus suffix into out; 0 if it is too long. */
static int
encode_name(const char *seg, size_t len, const char *suffix, char *out, size_t cap)
{
	size_t		o = 0;
	size_t		slen = strlen(suffix);

	if (len == 0)
	{
		if (sizeof(EMPTY_SEGMENT) - 1 + slen + 1 > cap)
			return 0;
		memcpy(out, EMPTY_SEGMENT, sizeof(EMPTY_SEGMENT) - 1);
		o = sizeof(EMPTY_SEGMENT) - 1;
	}
	for (size_t i = 0; i < len; i++)
	{
		if (o + 4 + slen > cap)
			return 0;
		if (seg[i] == '%')
		{
			memcpy(out + o, "%25", 3);
			o += 3;
		}
		else
			out[o++] = seg[i];
	}
	if (o + slen + 1 > cap || o + slen > NAME_MAX)
		return 0;
	memcpy(out + o, suffix, slen + 1);
	return 1;
}

/*
 * Decode a directory entry's name into out (cap >= NAME_MAX + 1).  Returns
 * 1 for an object, 2 for a directory, 0 for anything of ours or foreign.
 */
static int
decode_name(const char *name, char *out, size_t *out_len)
{
	size_t		len = strlen(name);
	int			kind = 1;
	size_t		o = 0;

	if (len >= 2 && strcmp(name + len - 2, DIR_SUFFIX) == 0)
	{
		kind = 2;
		len -= 2;
	}
	if (len == 2 && strncmp(name, EMPTY_SEGMENT, 2) == 0)
	{
		*out_len = 0;
		out[0] = '\0';
		return kind;
	}
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		if (name[i] == '%')
		{
			if (i + 2 < len && name[i + 1] == '2' && name[i + 2] == '5')
			{
				out[o++] = '%';
				i += 2;
				continue;
			}
			return 0;
		}
		out[o++] = name[i];
	}
	out[o] = '\0';
	*out_len = o;
	/* keys never have "." or ".." segments: such a name is not ours */
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return 0;
	return kind;
}

/* ------------------------------------------------------------ walking */

/*
 * Open the directory that holds key's object (creating missing directories
 * if create), and write the escaped object name into leaf.  Returns a
 * directory fd (the caller closes it) or -1 with *err filled.
 */
static int
open_parent(FileStore *fs, const char *key, int create, char *leaf,
			ObjStoreError *err)
{
	int			fd = fs->root_fd;
	const char *seg = key;
	const char *slash;
	char		name[NAME_MAX + 1];

	while ((slash = strchr(seg, '/')) != NULL)
	{
		int			next;

		if (!encode_name(seg, (size_t) (slash - seg), DIR_SUFFIX, name, sizeof(name)))
		{
			objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "ENAMETOOLONG",
						  "key \"%s\" has a segment too long for the file backend", key);
			goto fail;
		}
		next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create)
		{
			if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
			{
				errno_fail(err, errno, "cannot create directory for key", key);
				goto fail;
			}
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
		{
			int			e = errno;

			/* O_NOFOLLOW on a symlink to a directory gives ENOTDIR */
			if (e == ENOTDIR)
			{
				struct stat st;

				if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					S_ISLNK(st.st_mode))
					e = ELOOP;
				else
					e = ENOENT;
			}
			errno_fail(err, e, "key", key);
			goto fail;
		}
		if (fd != fs->root_fd)
			close(fd);
		fd = next;
		seg = slash + 1;
	}
	if (!encode_name(seg, strlen(seg), "", leaf, NAME_MAX + 1))
	{
		objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "ENAMETOOLONG",
					  "key \"%s\" has a segment too long for the file backend", key);
		goto fail;
	}
	if (fd == fs->root_fd)
	{
		fd = fcntl(fs->root_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			errno_fail(err, errno, "cannot duplicate the root descriptor for key", key);
	}
	return fd;

fail:
	if (fd != fs->root_fd)
		close(fd);
	return -1;
}

/* Open an object for reading; fills *st.  -1 with *err filled on error. */
static int
open_object(int dirfd, const char *leaf, const char *key, struct stat *st,
			ObjStoreError *err)
{
	int			fd = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
	{
		errno_fail(err, errno, "key", key);
		return -1;
	}
	if (fstat(fd, st) < 0)
	{
		errno_fail(err, errno, "cannot stat key", key);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode))
	{
		close(fd);
		objstore_fail(err, OBJSTORE_NOT_FOUND, 0, "ENOENT",
					  "key \"%s\": not a regular file", key);
		return -1;
	}
	return fd;
}

static void
format_etag(XXH128_hash_t h, char *etag)
{
	snprintf(etag, OBJSTORE_ETAG_LEN, "%016llx%016llx",
			 (unsigned long long) h.high64, (unsigned long long) h.low64);
}

/* ETag of an open object's content (size bytes), read with pread. */
static ObjStoreStatus
hash_fd(int fd, uint64_t size, const char *key, char *etag, ObjStoreError *err)
{
	XXH3_state_t *state;
	char	   *chunk;
	uint64_t	off = 0;
	ObjStoreStatus st = OBJSTORE_OK;

	if (size <= 65536)
	{
		char		small[65536];
		ssize_t		n = 0;

		while ((uint64_t) n < size)
		{
			ssize_t		r = pread(fd, small + n, size - n, n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? errno_fail(err, errno, "cannot read key", key)
					: objstore_fail(err, OBJSTORE_SERVER_ERROR, 0, "EIO",
									"key \"%s\" shrank while being read", key);
			n += r;
		}
		format_etag(XXH3_128bits(small, size), etag);
		return OBJSTORE_OK;
	}
	state = XXH3_createState();
	chunk = malloc(HASH_CHUNK);
	if (state == NULL || chunk == NULL)
	{
		st = objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "ENOMEM", "out of memory hashing \"%s\"", key);
		goto done;
	}
	XXH3_128bits_reset(state);
	while (off < size)
	{
		size_t		want = size - off < HASH_CHUNK ? (size_t) (size - off) : HASH_CHUNK;
		ssize_t		r = pread(fd, chunk, want, (off_t) off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
		{
			st = r < 0 ? errno_fail(err, errno, "cannot read key", key)
				: objstore_fail(err, OBJSTORE_SERVER_ERROR, 0, "EIO",
								"key \"%s\" shrank while being read", key);
			goto done;
		}
		XXH3_128bits_update(state, chunk, (size_t) r);
		off += (uint64_t) r;
	}
	format_etag(XXH3_128bits_digest(state), etag);
done:
	free(chunk);
	XXH3_freeState(state);
	return st;
}

static void
fill_info(ObjStoreInfo *info, const struct stat *st)
{
	info->size = (uint64_t) st->st_size;
	info->last_modified = (int64_t) st->st_mtime;
}

static ObjStoreStatus
read_exact(int fd, char *dst, size_t len, uint64_t off, const char *key,
		   ObjStoreError *err)
{
	size_t		n = 0;

	while (n < len)
	{
		ssize_t		r = pread(fd, dst + n, len - n, (off_t) (off + n));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno_fail(err, errno, "cannot read key", key);
		if (r == 0)
			return objstore_fail(err, OBJSTORE_SERVER_ERROR, 0, "EIO",
								 "key \"%s\" shrank while being read", key);
		n += (size_t) r;
	}
	return OBJSTORE_OK;
}

/* -------------------------------------------------------------- reads */

static ObjStoreStatus
file_get(ObjStore *store, const char *key, const ObjStoreRange *range,
		 ObjStoreBuffer *body, ObjStoreInfo *info, ObjStoreError *err)
{
	FileStore  *fs = (FileStore *) store;
	char		leaf[NAME_MAX + 1];
	struct stat st;
	int			dirfd;
	int			fd;
	uint64_t	off = 0;
	uint64_t	len;
	ObjStoreInfo local;
	ObjStoreStatus status;

	store->stats.op[OBJSTORE_OP_GET].requests++;
	if (info == NULL)
		info = &local;
	if ((dirfd = open_parent(fs, key, 0, leaf, err)) < 0)
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	fd = open_object(dirfd, leaf, key, &st, err);
	close(dirfd);
	if (fd < 0)
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	fill_info(info, &st);
	len = info->size;
	if (range != NULL)
	{
		if (range->offset >= info->size)
		{
			close(fd);
			return objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 416, "InvalidRange",
								 "range starts at %llu, past the end of \"%s\" (%llu bytes)",
								 (unsigned long long) range->offset, key,
								 (unsigned long long) info->size);
		}
		off = range->offset;
		len = info->size - off < range->length ? info->size - off : range->length;
	}
	if (len > SIZE_MAX - 1 || objstore_buffer_reserve(body, (size_t) len) != OBJSTORE_OK)
	{
		close(fd);
		return objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "ENOMEM",
							 "out of memory reading \"%s\"", key);
	}
	status = read_exact(fd, body->data, (size_t) len, off, key, err);
	if (status == OBJSTORE_OK)
	{
		body->len = (size_t) len;
		body->data[len] = '\0';
		if (range == NULL)
			format_etag(XXH3_128bits(body->data, body->len), info->etag);
		else
			status = hash_fd(fd, info->size, key, info->etag, err);
		store->stats.op[OBJSTORE_OP_GET].bytes_in += len;
	}
	close(fd);
	return status;
}

static ObjStoreStatus
file_head(ObjStore *store, const char *key, ObjStoreInfo *info,
		  ObjStoreError *err)
{
	FileStore  *fs = (FileStore *) store;
	char		leaf[NAME_MAX + 1];
	struct stat st;
	int			dirfd;
	int			fd;
	ObjStoreStatus status;

	store->stats.op[OBJSTORE_OP_HEAD].requests++;
	if ((dirfd = open_parent(fs, key, 0, leaf, err)) < 0)
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	fd = open_object(dirfd, leaf, key, &st, err);
	close(dirfd);
	if (fd < 0)
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	fill_info(info, &st);
	status = hash_fd(fd, info->size, key, info->etag, err);
	close(fd);
	return status;
}

/* ------------------------------------------------------------- writes */

static ObjStoreStatus
lock_dir(int dirfd, int *lockfd, const char *key, ObjStoreError *err)
{
	int			fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno_fail(err, errno, "cannot open the lock file for key", key);
	while (flock(fd, LOCK_EX) < 0)
	{
		if (errno != EINTR)
		{
			int			e = errno;

			close(fd);
			return errno_fail(err, e, "cannot lock the directory of key", key);
		}
	}
	*lockfd = fd;
	return OBJSTORE_OK;
}

static void
unlock_dir(int lockfd)
{
	/* closing the descriptor releases the flock */
	close(lockfd);
}

/* Write data to a new temporary file in dirfd; its name goes to tmpname. */
static ObjStoreStatus
write_temp(FileStore *fs, int dirfd, const void *data, size_t len,
		   const char *key, char *tmpname, struct stat *st, ObjStoreError *err)
{
	int			fd = -1;
	size_t		done = 0;
	int			e;

	for (int tries = 0; tries < 16 && fd < 0; tries++)
	{
		uint64_t	x = fs->rng;

		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		fs->rng = x;
		snprintf(tmpname, 32, "%%t%016llx", (unsigned long long) x);
		fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			return errno_fail(err, errno, "cannot create a temporary file for key", key);
	}
	if (fd < 0)
		return objstore_fail(err, OBJSTORE_SERVER_ERROR, 0, "EEXIST",
							 "cannot find a free temporary file name for \"%s\"", key);
	while (done < len)
	{
		ssize_t		w = write(fd, (const char *) data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto io_error;
		done += (size_t) w;
	}
	if (!fs->no_fsync && fdatasync(fd) < 0)
		goto io_error;
	if (fstat(fd, st) < 0)
		goto io_error;
	if (close(fd) < 0)
	{
		fd = -1;
		goto io_error;
	}
	return OBJSTORE_OK;

io_error:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmpname, 0);
	return errno_fail(err, e, "cannot write key", key);
}

static ObjStoreStatus
sync_dir(FileStore *fs, int dirfd, const char *key, ObjStoreError *err)
{
	if (!fs->no_fsync && fsync(dirfd) < 0)
		return errno_fail(err, errno, "cannot sync the directory of key", key);
	return OBJSTORE_OK;
}

static ObjStoreStatus
file_put(ObjStore *store, const char *key, const void *data, size_t len,
		 ObjStorePutMode mode, const char *if_match, ObjStoreInfo *info,
		 ObjStoreError *err)
{
	FileStore  *fs = (FileStore *) store;
	char		leaf[NAME_MAX + 1];
	char		tmpname[32];
	char		etag[OBJSTORE_ETAG_LEN];
	struct stat st;
	int			dirfd;
	int			lockfd = -1;
	ObjStoreStatus status;

	store->stats.op[OBJSTORE_OP_PUT].requests++;
	if ((dirfd = open_parent(fs, key, 1, leaf, err)) < 0)
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	format_etag(XXH3_128bits(data, len), etag);
	status = write_temp(fs, dirfd, data, len, key, tmpname, &st, err);
	if (status != OBJSTORE_OK)
	{
		close(dirfd);
		return status;
	}

	if (mode == OBJSTORE_PUT_IF_NONE_MATCH)
	{
		if (linkat(dirfd, tmpname, dirfd, leaf, 0) < 0)
		{
			int			e = errno;

			if (e == EEXIST)
				status = objstore_fail(err, OBJSTORE_PRECONDITION_FAILED, 412,
									   "PreconditionFailed",
									   "key \"%s\" already exists", key);
			else
				status = errno_fail(err, e, "cannot create key", key);
		}
		unlinkat(dirfd, tmpname, 0);
	}
	else
	{
		status = lock_dir(dirfd, &lockfd, key, err);
		if (status == OBJSTORE_OK && mode == OBJSTORE_PUT_IF_MATCH)
		{
			struct stat cur;
			char		cur_etag[OBJSTORE_ETAG_LEN];
			int			fd = open_object(dirfd, leaf, key, &cur, err);

			if (fd < 0)
				status = err ? err->status : OBJSTORE_SERVER_ERROR;
			else
			{
				status = hash_fd(fd, (uint64_t) cur.st_size, key, cur_etag, err);
				close(fd);
				if (status == OBJSTORE_OK && strcmp(cur_etag, if_match) != 0)
					status = objstore_fail(err, OBJSTORE_PRECONDITION_FAILED, 412,
										   "PreconditionFailed",
										   "key \"%s\" has ETag %s, not %s",
										   key, cur_etag, if_match);
			}
		}
		if (status == OBJSTORE_OK && renameat(dirfd, tmpname, dirfd, leaf) < 0)
			status = errno_fail(err, errno, "cannot replace key", key);
		if (lockfd >= 0)
			unlock_dir(lockfd);
		if (status != OBJSTORE_OK)
			unlinkat(dirfd, tmpname, 0);
	}
	if (status == OBJSTORE_OK)
		status = sync_dir(fs, dirfd, key, err);
	close(dirfd);
	if (status == OBJSTORE_OK)
	{
		store->stats.op[OBJSTORE_OP_PUT].bytes_out += len;
		if (info != NULL)
		{
			fill_info(info, &st);
			memcpy(info->etag, etag, sizeof(etag));
		}
	}
	return status;
}

static ObjStoreStatus
file_delete(ObjStore *store, const char *key, ObjStoreError *err)
{
	FileStore  *fs = (FileStore *) store;
	char		leaf[NAME_MAX + 1];
	int			dirfd;
	int			lockfd;
	ObjStoreStatus status;

	store->stats.op[OBJSTORE_OP_DELETE].requests++;
	if ((dirfd = open_parent(fs, key, 0, leaf, err)) < 0)
	{
		/* a missing directory means a missing key: deleting it succeeds */
		if (err && err->status == OBJSTORE_NOT_FOUND)
		{
			objstore_clear_error(err);
			return OBJSTORE_OK;
		}
		return err ? err->status : OBJSTORE_SERVER_ERROR;
	}
	status = lock_dir(dirfd, &lockfd, key, err);
	if (status == OBJSTORE_OK)
	{
		struct stat st;

		/* never unlink a directory or a symlink in a key's place */
		if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			!S_ISREG(st.st_mode))
			status = objstore_fail(err, OBJSTORE_INVALID_ARGUMENT, 0, "EINVAL",
								   "key \"%s\" is not a regular file", key);
		else if (unlinkat(dirfd, leaf, 0) < 0 && errno != ENOENT)
			status = errno_fail(err, errno, "cannot delete key", key);
		unlock_dir(lockfd);
	}
	if (status == OBJSTORE_OK)
		status = sync_dir(fs, dirfd, key, err);
	close(dirfd);
	return status;
}

/* -------------------------------------------------------------- list */

typedef struct ListWalk
{
	const char *prefix;
	size_t		prefix_len;
	const char *start_after;
	ObjStoreList *out;
	size_t		cap;
	char		key[OBJSTORE_KEY_MAX + NAME_MAX + 2];
	ObjStoreError *err;
} ListWalk;

/* Can a key that starts with key[0..len) match the prefix? */
static int
may_match(const ListWalk *w, size_t len)
{
	size_t		n = len < w->prefix_len ? len : w->prefix_len;

	return memcmp(w->key, w->prefix, n) == 0;
}

static ObjStoreStatus
walk_dir(ListWalk *w, int dirfd, size_t key_len)
{
	DIR		   *d;
	struct dirent *de;

	/* a new open file description: a dup would share (and move) the offset */
	int			fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ObjStoreStatus status = OBJSTORE_OK;

	if (fd < 0)
		return errno_fail(w->err, errno, "cannot list", w->prefix);
	d = fdopendir(fd);
	if (d == NULL)
	{
		int			e = errno;

		close(fd);
		return errno_fail(w->err, e, "cannot list", w->prefix);
	}
	while (status == OBJSTORE_OK && (errno = 0, de = readdir(d)) != NULL)
	{
		char		seg[NAME_MAX + 1];
		size_t		seg_len;
		int			kind = decode_name(de->d_name, seg, &seg_len);
		size_t		len;
		struct stat st;

		if (kind == 0 || key_len + seg_len + 1 > OBJSTORE_KEY_MAX)
			continue;
		memcpy(w->key + key_len, seg, seg_len);
		len = key_len + seg_len;
		if (kind == 2)
		{
			int			sub;

			w->key[len++] = '/';
			if (!may_match(w, len))
				continue;
			sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
			{
				if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
					continue;	/* gone, or not ours */
				w->key[len] = '\0';
				status = errno_fail(w->err, errno, "cannot list", w->key);
				break;
			}
			status = walk_dir(w, sub, len);
			close(sub);
			continue;
		}
		w->key[len] = '\0';
		if (len < w->prefix_len || memcmp(w->key, w->prefix, w->prefix_len) != 0)
			continue;
		if (strcmp(w->key, w->start_after) <= 0)
			continue;
		{
			ObjStoreInfo info;
			int			ofd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

			if (ofd < 0)
			{
				if (errno == ENOENT || errno == ELOOP)
					continue;	/* deleted meanwhile, or a symlink */
				status = errno_fail(w->err, errno, "cannot list", w->key);
				break;
			}
			if (fstat(ofd, &st) < 0 || !S_ISREG(st.st_mode))
			{
				close(ofd);
				continue;
			}
			memset(&info, 0, sizeof(info));
			fill_info(&info, &st);
			status = hash_fd(ofd, info.size, w->key, info.etag, w->err);
			close(ofd);
			if (status == OBJSTORE_OK &&
				objstore_list_append(w->out, &w->cap, w->key, len, &info) != OBJSTORE_OK)
				status = objstore_fail(w->err, OBJSTORE_NO_MEMORY, 0, "ENOMEM",
									   "out of memory listing");
		}
	}
	if (status == OBJSTORE_OK && errno != 0 && de == NULL)
		status = errno_fail(w->err, errno, "cannot list", w->prefix);
	closedir(d);
	return status;
}

static ObjStoreStatus
file_list(ObjStore *store, const char *prefix, const char *start_after,
		  ObjStoreList *out, ObjStoreError *err)
{
	FileStore  *fs = (FileStore *) store;
	ListWalk   *w;
	const char *last_slash = strrchr(prefix, '/');
	int			dirfd;
	size_t		dir_len = 0;
	ObjStoreStatus status;

	store->stats.op[OBJSTORE_OP_LIST].requests++;
	w = calloc(1, sizeof(ListWalk));
	if (w == NULL)
		return objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "ENOMEM", "out of memory listing");
	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	w->start_after = start_after;
	w->out = out;
	w->err = err;

	/* start in the deepest directory the prefix names completely */
	if (last_slash != NULL)
	{
		char		leaf[NAME_MAX + 1];
		char		probe[OBJSTORE_KEY_MAX + 2];

		dir_len = (size_t) (last_slash - prefix) + 1;
		memcpy(probe, prefix, dir_len);
		probe[dir_len] = 'x';	/* any leaf: we want its parent */
		probe[dir_len + 1] = '\0';
		dirfd = open_parent(fs, probe, 0, leaf, err);
		if (dirfd < 0)
		{
			free(w);
			if (err && (err->status == OBJSTORE_NOT_FOUND))
			{
				objstore_clear_error(err);
				return OBJSTORE_OK; /* no such directory: nothing to list */
			}
			return err ? err->status : OBJSTORE_SERVER_ERROR;
		}
		memcpy(w->key, prefix, dir_len);
	}
	else
		dirfd = fs->root_fd;
	status = walk_dir(w, dirfd, dir_len);
	if (dirfd != fs->root_fd)
		close(dirfd);
	free(w);
	if (status == OBJSTORE_OK)
		objstore_list_sort(out);
	return status;
}

/* -------------------------------------------------------------- open */

static void
file_close(ObjStore *store)
{
	FileStore  *fs = (FileStore *) store;

	close(fs->root_fd);
	free(fs);
}

static const ObjStoreBackendOps file_ops = {
	.name = "file",
	.get = file_get,
	.put = file_put,
	.head = file_head,
	.delete = file_delete,
	.list = file_list,
	.close = file_close,
};

ObjStore *
objstore_file_open(const char *dir, const ObjStoreConfig *config,
				   ObjStoreError *err)
{
	FileStore  *fs;
	int			fd;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
	{
		errno_fail(err, errno, "cannot create storage directory", dir);
		return NULL;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
	{
		errno_fail(err, errno, "cannot open storage directory", dir);
		return NULL;
	}
	fs = calloc(1, sizeof(FileStore));
	if (fs == NULL)
	{
		close(fd);
		objstore_fail(err, OBJSTORE_NO_MEMORY, 0, "ENOMEM", "out of memory");
		return NULL;
	}
	fs->base.ops = &file_ops;
	fs->root_fd = fd;
	fs->no_fsync = config->no_fsync;
	fs->rng = objstore_random_seed();
	return &fs->base;
}
