/*
 * cluster_hlc.c - the hybrid logical clock that versions every change a
 * writer logs, and the last-writer-wins order between two versions of a
 * row.  An HLC value is milliseconds since the epoch << 16 plus a 16-bit
 * logical counter, so it stays close to wall time, never goes backwards
 * when the wall clock does, and orders events as plain integers.
 */
#include <string.h>

#include "cluster_segment.h"

#define HLC_MS_MAX ((UINT64_C(1) << 48) - 1)

/* wall_ms << 16, with a wall clock beyond 48 bits held at the largest */
static uint64_t
wall_hlc(uint64_t wall_ms)
{
	if (wall_ms > HLC_MS_MAX)
		wall_ms = HLC_MS_MAX;
	return wall_ms << 16;
}

/* v + 1, held at UINT64_MAX */
static uint64_t
succ(uint64_t v)
{
	return v == UINT64_MAX ? v : v + 1;
}

uint64_t
cluster_hlc_make(uint64_t ms, uint32_t logical)
{
	return ((ms & HLC_MS_MAX) << 16) | (uint64_t) (logical & 0xffff);
}

uint64_t
cluster_hlc_ms(uint64_t hlc)
{
	return hlc >> 16;
}

uint64_t
cluster_hlc_next(uint64_t last, uint64_t wall_ms)
{
	uint64_t	a = succ(last),
				b = wall_hlc(wall_ms);

	return a > b ? a : b;
}

uint64_t
cluster_hlc_observe(uint64_t last, uint64_t remote, uint64_t wall_ms)
{
	uint64_t	a = succ(last > remote ? last : remote),
				b = wall_hlc(wall_ms);

	return a > b ? a : b;
}

int
cluster_version_cmp(uint64_t a_hlc, const char *a_writer, uint64_t b_hlc, const char *b_writer)
{
	int			c;

	if (a_hlc != b_hlc)
		return a_hlc > b_hlc ? 1 : -1;
	c = strcmp(a_writer != NULL ? a_writer : "", b_writer != NULL ? b_writer : "");
	return c > 0 ? 1 : (c < 0 ? -1 : 0);
}
