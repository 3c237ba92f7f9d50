/*
 * cluster_partition.c - the partition of a row: xxHash64 (seed 0) of its
 * primary key's text form modulo partitionCount, printed p%03d.  The same
 * key lands in the same partition on every node and every platform
 * (xxHash64 is defined on bytes, independent of endianness).
 */
#include <stdio.h>

#include <xxhash.h>

#include "cluster.h"

int
cluster_partition_index(const char *key, size_t len, int count)
{
	if (count < 1)
		return -1;
	return (int) (XXH64(key, len, 0) % (unsigned long long) count);
}

void
cluster_partition_name(int index, char *buf, size_t len)
{
	snprintf(buf, len, "p%03d", index);
}
