/*
 * bench_objstore.c - object store benchmark (make bench-objstore).
 *
 * Against an S3 server (RGW, started by bench_objstore.sh): p50/p99 latency
 * of 1 KiB GET and PUT through objstore over one reused connection, next to
 * a floor measured in the same run by a minimal keep-alive client (a raw
 * socket, a hand-written request signed with the same SigV4 code, no
 * libcurl); throughput of 1 MiB PUTs.  On the file backend: create-only
 * 1 KiB PUTs per second, with fsync (the default) and without.
 *
 * usage: bench_objstore --file DIR
 *        bench_objstore --s3 ENDPOINT BUCKET   (AWS-style keys in
 *                       OBJSTORE_ACCESS_KEY_ID / OBJSTORE_SECRET_ACCESS_KEY)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "objstore_internal.h"
#include "objstore_sigv4.h"

#define N_SMALL 2000
#define N_WARM 100
#define N_BIG 60

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
quantiles(double *v, int n, double *p50, double *p99)
{
	qsort(v, (size_t) n, sizeof(double), cmp_double);
	*p50 = v[n / 2];
	*p99 = v[(int) (n * 0.99)];
}

/* ------------------------------------------------------- the floor client */

typedef struct Floor
{
	int			fd;
	int			port;
	const char *bucket;
	const char *key_id;
	const char *secret;
	char		host[64];
	char	   *buf;
	size_t		cap;
} Floor;

static int
floor_connect(Floor *f)
{
	struct sockaddr_in a;
	int			one = 1;

	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short) f->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return connect(f->fd, (struct sockaddr *) &a, sizeof(a));
}

/* One request over the kept-alive socket; returns the HTTP status. */
static int
floor_request(Floor *f, const char *method, const char *key, const char *body, size_t blen)
{
	char		path[256];
	char		hash[SIGV4_HEX_LEN];
	char		date[17];
	time_t		t = time(NULL);
	struct tm	tm;
	SigV4Header h[3];
	SigV4Request r;
	ObjStoreBuffer auth = {0};
	char		head[2048];
	int			hl;
	size_t		have = 0;
	char	   *end;
	long		clen = 0;
	int			status;

	snprintf(path, sizeof(path), "/%s/%s", f->bucket, key);
	sigv4_sha256_hex(body, blen, hash);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	h[0] = (SigV4Header) {"host", f->host};
	h[1] = (SigV4Header) {"x-amz-content-sha256", hash};
	h[2] = (SigV4Header) {"x-amz-date", date};
	r = (SigV4Request) {method, path, "", h, 3, hash, date, "us-east-1", "s3", f->key_id, f->secret};
	sigv4_authorization(&r, &auth, NULL);
	hl = snprintf(head, sizeof(head),
				  "%s %s HTTP/1.1\r\nHost: %s\r\nx-amz-content-sha256: %s\r\nx-amz-date: %s\r\n"
				  "Authorization: %s\r\nContent-Length: %zu\r\n\r\n",
				  method, path, f->host, hash, date, auth.data, blen);
	objstore_buffer_free(&auth);
	if (send(f->fd, head, (size_t) hl, MSG_NOSIGNAL) != hl ||
		(blen > 0 && send(f->fd, body, blen, MSG_NOSIGNAL) != (ssize_t) blen))
		return -1;
	for (;;)
	{
		ssize_t		n;

		if (have + 65536 > f->cap)
		{
			f->cap = (have + 65536) * 2;
			f->buf = realloc(f->buf, f->cap);
		}
		n = recv(f->fd, f->buf + have, f->cap - have - 1, 0);
		if (n <= 0)
			return -1;
		have += (size_t) n;
		f->buf[have] = '\0';
		if ((end = strstr(f->buf, "\r\n\r\n")) != NULL)
			break;
	}
	status = atoi(f->buf + 9);
	{
		char	   *cl = strcasestr(f->buf, "\r\ncontent-length:");

		if (cl && cl < end)
			clen = atol(cl + 17);
	}
	while (have < (size_t) (end + 4 - f->buf) + (size_t) clen)
	{
		ssize_t		n;

		if (have + 65536 > f->cap)
		{
			f->cap = (have + 65536) * 2;
			f->buf = realloc(f->buf, f->cap);
			end = NULL;
		}
		n = recv(f->fd, f->buf + have, f->cap - have - 1, 0);
		if (n <= 0)
			return -1;
		have += (size_t) n;
		if (end == NULL)
			end = strstr(f->buf, "\r\n\r\n");
	}
	return status;
}

/* ----------------------------------------------------------------- S3 */

static void
bench_s3(const char *endpoint, const char *bucket)
{
	ObjStoreConfig c = {0};
	ObjStoreError err;
	ObjStore   *s;
	char		url[256];
	char		small[1024];
	char	   *big;
	double		t_floor_get[N_SMALL],
				t_floor_put[N_SMALL],
				t_get[N_SMALL],
				t_put[N_SMALL];
	double		fg50,
				fg99,
				fp50,
				fp99,
				g50,
				g99,
				p50,
				p99;
	Floor		f = {0};
	const char *colon = strrchr(endpoint, ':');
	double		t0,
				secs;
	ObjStoreStats st;

	memset(small, 'x', sizeof(small));
	c.endpoint = endpoint;
	c.access_key_id = getenv("OBJSTORE_ACCESS_KEY_ID");
	c.secret_access_key = getenv("OBJSTORE_SECRET_ACCESS_KEY");
	c.force_path_style = 1;
	snprintf(url, sizeof(url), "s3://%s", bucket);
	s = objstore_open(url, &c, &err);
	if (s == NULL)
	{
		fprintf(stderr, "open: %s\n", err.message);
		exit(1);
	}
	f.port = colon ? atoi(colon + 1) : 80;
	f.bucket = bucket;
	f.key_id = c.access_key_id;
	f.secret = c.secret_access_key;
	snprintf(f.host, sizeof(f.host), "127.0.0.1:%d", f.port);
	if (floor_connect(&f) != 0)
	{
		perror("connect");
		exit(1);
	}
	if (objstore_put(s, "bench/small", small, sizeof(small), OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
	{
		fprintf(stderr, "put: %s\n", err.message);
		exit(1);
	}
	/* warm both paths, then alternate them in blocks so drift hits both */
	for (int i = 0; i < N_WARM; i++)
	{
		ObjStoreBuffer b;

		floor_request(&f, "GET", "bench/small", "", 0);
		objstore_get(s, "bench/small", NULL, &b, NULL, NULL);
		objstore_buffer_free(&b);
	}
	objstore_reset_stats(s);
	for (int block = 0; block < N_SMALL; block += 100)
	{
		for (int i = block; i < block + 100; i++)
		{
			double		t = now_ms();

			if (floor_request(&f, "GET", "bench/small", "", 0) != 200)
				fprintf(stderr, "floor GET failed\n");
			t_floor_get[i] = now_ms() - t;
		}
		for (int i = block; i < block + 100; i++)
		{
			ObjStoreBuffer b;
			double		t = now_ms();

			if (objstore_get(s, "bench/small", NULL, &b, NULL, &err) != OBJSTORE_OK)
				fprintf(stderr, "GET: %s\n", err.message);
			t_get[i] = now_ms() - t;
			objstore_buffer_free(&b);
		}
		for (int i = block; i < block + 100; i++)
		{
			double		t = now_ms();

			if (floor_request(&f, "PUT", "bench/small-floor", small, sizeof(small)) != 200)
				fprintf(stderr, "floor PUT failed\n");
			t_floor_put[i] = now_ms() - t;
		}
		for (int i = block; i < block + 100; i++)
		{
			double		t = now_ms();

			if (objstore_put(s, "bench/small-ours", small, sizeof(small), OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
				fprintf(stderr, "PUT: %s\n", err.message);
			t_put[i] = now_ms() - t;
		}
	}
	objstore_get_stats(s, &st);
	quantiles(t_floor_get, N_SMALL, &fg50, &fg99);
	quantiles(t_floor_put, N_SMALL, &fp50, &fp99);
	quantiles(t_get, N_SMALL, &g50, &g99);
	quantiles(t_put, N_SMALL, &p50, &p99);
	printf("\nS3 (RGW on 127.0.0.1), 1 KiB objects, %d requests each, one kept-alive connection\n", N_SMALL);
	printf("| operation | floor p50 | floor p99 | objstore p50 | objstore p99 | p50 ratio |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	printf("| GET 1 KiB | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.2fx |\n", fg50, fg99, g50, g99, g50 / fg50);
	printf("| PUT 1 KiB | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.2fx |\n", fp50, fp99, p50, p99, p50 / fp50);
	printf("connections opened by objstore during the run: %llu\n", (unsigned long long) st.connections);

	big = malloc(1 << 20);
	memset(big, 'y', 1 << 20);
	objstore_put(s, "bench/big", big, 1 << 20, OBJSTORE_PUT_PLAIN, NULL, NULL, &err);
	t0 = now_ms();
	for (int i = 0; i < N_BIG; i++)
		if (objstore_put(s, "bench/big", big, 1 << 20, OBJSTORE_PUT_PLAIN, NULL, NULL, &err) != OBJSTORE_OK)
			fprintf(stderr, "big PUT: %s\n", err.message);
	secs = (now_ms() - t0) / 1e3;
	printf("| PUT 1 MiB | %d PUTs in %.2f s | %.1f MiB/s | %.1f ms each |\n", N_BIG, secs, N_BIG / secs,
		   secs * 1e3 / N_BIG);
	free(big);
	objstore_delete(s, "bench/small", NULL);
	objstore_delete(s, "bench/small-ours", NULL);
	objstore_delete(s, "bench/small-floor", NULL);
	objstore_delete(s, "bench/big", NULL);
	objstore_close(s);
	close(f.fd);
	free(f.buf);
}

/* ---------------------------------------------------------------- file */

static void
bench_file_run(const char *dir, int no_fsync, int n)
{
	char		url[300];
	ObjStoreConfig c = {.no_fsync = no_fsync};
	ObjStoreError err;
	ObjStore   *s;
	char		small[1024];
	double		t0,
				secs;
	int			fails = 0;

	memset(small, 'z', sizeof(small));
	snprintf(url, sizeof(url), "file://%s/%s", dir, no_fsync ? "nosync" : "sync");
	s = objstore_open(url, &c, &err);
	if (s == NULL)
	{
		fprintf(stderr, "open: %s\n", err.message);
		exit(1);
	}
	/* 100 keys per directory, as log segments of many writers would be */
	t0 = now_ms();
	for (int i = 0; i < n; i++)
	{
		char		key[64];

		snprintf(key, sizeof(key), "log/w%03d/%020d.seg", i / 100, i);
		if (objstore_put(s, key, small, sizeof(small), OBJSTORE_PUT_IF_NONE_MATCH, NULL, NULL, &err) != OBJSTORE_OK)
			fails++;
	}
	secs = (now_ms() - t0) / 1e3;
	printf("| create-only PUT 1 KiB, %s | %d | %.0f PUTs/s | %.1f us each |%s\n",
		   no_fsync ? "no fsync" : "fsync (default)", n, n / secs, secs * 1e6 / n,
		   fails ? " FAILURES" : "");
	objstore_close(s);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--file") == 0)
	{
		printf("\nfile:// backend on %s, one thread\n", argv[2]);
		printf("| operation | objects | rate | latency |\n|---|---:|---:|---:|\n");
		bench_file_run(argv[2], 1, 50000);
		bench_file_run(argv[2], 0, 5000);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--s3") == 0)
	{
		bench_s3(argv[2], argv[3]);
		return 0;
	}
	fprintf(stderr, "usage: %s --file DIR | --s3 ENDPOINT BUCKET\n", argv[0]);
	return 2;
}
