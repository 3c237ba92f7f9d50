/*
 * fmnist_to_copy.c - turn an IDX3 image file into COPY text for a vector column.
 *
 * Used by bench_sql.sh with the Fashion-MNIST data set (Zalando Research,
 * Debian package dataset-fashion-mnist).  Reads an *uncompressed* IDX3 file
 * (unsigned byte images) on stdin and writes one COPY text line per image:
 *
 *     id<TAB>[p1,p2,...,pN]
 *
 * where N = rows * cols and each p is the pixel value 0..255.
 *
 * Usage: fmnist_to_copy [FIRST_ID [MAX_COUNT]] < images-idx3-ubyte
 *   FIRST_ID   id of the first image written (default 1)
 *   MAX_COUNT  write at most this many images (default: all of them)
 *
 * The IDX3 header is four big-endian uint32s: magic 0x00000803 (unsigned
 * byte data, 3 dimensions), image count, rows, cols; then count*rows*cols
 * bytes of pixel data.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX3_UBYTE_MAGIC 0x00000803u
#define MAX_SIDE 4096			/* sanity bound on rows and cols */
#define MAX_PIXELS 16000		/* a vector has at most 16000 dimensions */

static const char *progname = "fmnist_to_copy";

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void die(const char *fmt,...) PRINTF_LIKE(1, 2);

static void
die(const char *fmt,...)
{
	va_list		ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Parse a non-negative decimal integer argument, or die. */
static long long
parse_arg(const char *s, const char *what)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		die("invalid %s (want a non-negative integer)", what);
	return v;
}

static uint32_t
be32(const unsigned char *b)
{
	return ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
}

int
main(int argc, char **argv)
{
	unsigned char hdr[16];
	uint32_t	magic,
				count,
				rows,
				cols;
	size_t		npix;
	unsigned char *img;
	char	   *line;
	long long	first_id = 1;
	long long	max_count = -1;
	long long	n_out;
	long long	i;

	if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
								  strcmp(argv[1], "--help") == 0)))
	{
		fprintf(stderr, "usage: %s [FIRST_ID [MAX_COUNT]] < images-idx3-ubyte\n",
				progname);
		return 2;
	}
	if (argc > 1)
		first_id = parse_arg(argv[1], "FIRST_ID");
	if (argc > 2)
		max_count = parse_arg(argv[2], "MAX_COUNT");

	if (fread(hdr, 1, sizeof(hdr), stdin) != sizeof(hdr))
		die("input too short for an IDX3 header (16 bytes); "
			"is it gzip-compressed? pipe it through zcat");
	magic = be32(hdr);
	count = be32(hdr + 4);
	rows = be32(hdr + 8);
	cols = be32(hdr + 12);

	if (magic != IDX3_UBYTE_MAGIC)
	{
		if (hdr[0] == 0x1f && hdr[1] == 0x8b)
			die("input is gzip-compressed; pipe it through zcat");
		die("bad magic number 0x%08lx (want 0x00000803: IDX, unsigned byte, "
			"3 dimensions)", (unsigned long) magic);
	}
	if (rows == 0 || cols == 0 || rows > MAX_SIDE || cols > MAX_SIDE ||
		(size_t) rows * cols > MAX_PIXELS)
		die("bad image size %lux%lu (want 1..%d pixels per image)",
			(unsigned long) rows, (unsigned long) cols, MAX_PIXELS);
	npix = (size_t) rows * cols;

	n_out = count;
	if (max_count >= 0 && max_count < n_out)
		n_out = max_count;
	if (n_out > 0 && first_id > (long long) INT32_MAX - (n_out - 1))
		die("ids would overflow a 32-bit int column");

	img = malloc(npix);
	/* each pixel: up to 3 digits and a comma; plus id, tab, brackets, \n */
	line = malloc(npix * 4 + 32);
	if (img == NULL || line == NULL)
		die("out of memory");

	for (i = 0; i < n_out; i++)
	{
		size_t		got = fread(img, 1, npix, stdin);
		char	   *p = line;
		size_t		j;

		if (got != npix)
		{
			if (ferror(stdin))
				die("read error: %s", strerror(errno));
			die("input truncated after %lld of %lu images announced by "
				"the header", i, (unsigned long) count);
		}

		p += sprintf(p, "%lld\t[", first_id + i);
		for (j = 0; j < npix; j++)
		{
			unsigned	v = img[j];

			if (j > 0)
				*p++ = ',';
			if (v >= 100)
			{
				*p++ = (char) ('0' + v / 100);
				*p++ = (char) ('0' + (v / 10) % 10);
			}
			else if (v >= 10)
				*p++ = (char) ('0' + v / 10);
			*p++ = (char) ('0' + v % 10);
		}
		*p++ = ']';
		*p++ = '\n';
		if (fwrite(line, 1, (size_t) (p - line), stdout) != (size_t) (p - line))
			die("write error: %s", strerror(errno));
	}

	/* When converting the whole file, trailing garbage means a bad file. */
	if (max_count < 0 && fgetc(stdin) != EOF)
		die("input has more data than the header announces");

	if (fflush(stdout) != 0)
		die("write error: %s", strerror(errno));
	free(img);
	free(line);
	return 0;
}
