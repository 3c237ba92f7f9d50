/*
 * cluster_id.c - the instance id generated for a node that names none,
 * kept in a file (in the data directory) so a restart keeps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"

static int
read_id(const char *path, char *id, char *errbuf, size_t errlen)
{
	char		buf[CLUSTER_ID_MAX + 4];
	ssize_t		n;
	int			fd = open(path, O_RDONLY);

	if (fd < 0)
	{
		snprintf(errbuf, errlen, "could not open \"%s\": %s", path, strerror(errno));
		return CLUSTER_EIO;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
	{
		snprintf(errbuf, errlen, "could not read \"%s\": %s", path, strerror(errno));
		return CLUSTER_EIO;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (cluster_id_check(buf, errbuf, errlen) != CLUSTER_OK)
	{
		char		why[CLUSTER_ERRLEN];

		snprintf(why, sizeof(why), "%s", errbuf);
		snprintf(errbuf, errlen, "\"%s\" does not hold a valid instance id: %s", path, why);
		return CLUSTER_EINVAL;
	}
	memcpy(id, buf, (size_t) n + 1);
	return CLUSTER_OK;
}

int
cluster_id_load_or_create(const char *path, const unsigned char random_bytes[8],
						  char *id, int *created, char *errbuf, size_t errlen)
{
	char		fresh[CLUSTER_ID_MAX + 2];
	int			fd,
				i,
				len;

	*created = 0;
	if (access(path, F_OK) == 0)
		return read_id(path, id, errbuf, errlen);

	len = snprintf(fresh, sizeof(fresh), "node-");
	for (i = 0; i < 8; i++)
		len += snprintf(fresh + len, sizeof(fresh) - len, "%02x", random_bytes[i]);
	fresh[len++] = '\n';
	fresh[len] = '\0';

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
	{
		/* another process made it first: use theirs */
		if (errno == EEXIST)
			return read_id(path, id, errbuf, errlen);
		snprintf(errbuf, errlen, "could not create \"%s\": %s", path, strerror(errno));
		return CLUSTER_EIO;
	}
	if (write(fd, fresh, len) != len || fsync(fd) != 0)
	{
		snprintf(errbuf, errlen, "could not write \"%s\": %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return CLUSTER_EIO;
	}
	if (close(fd) != 0)
	{
		snprintf(errbuf, errlen, "could not write \"%s\": %s", path, strerror(errno));
		unlink(path);
		return CLUSTER_EIO;
	}
	fresh[len - 1] = '\0';
	memcpy(id, fresh, (size_t) len);
	*created = 1;
	return CLUSTER_OK;
}
