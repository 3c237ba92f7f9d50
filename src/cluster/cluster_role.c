/*
 * cluster_role.c - which role this node plays (reader, writer, hybrid) and
 * whether an instance id is acceptable.
 *
 * Resolution order (DESIGN.md section 5): the BRAINY_ROLE environment
 * variable, the brainy.role setting, then inference: BRAINY_MODE
 * (read-only -> reader, write-only -> writer), a hot standby or
 * default_transaction_read_only = on -> reader.  A value that is set but
 * invalid is an error naming where it came from; it is never skipped for a
 * lower level, so a typo cannot silently change a node's role.
 */
#include <stdio.h>
#include <string.h>

#include "cluster.h"

const char *
cluster_role_name(ClusterRole role)
{
	switch (role)
	{
		case CLUSTER_ROLE_READER:
			return "reader";
		case CLUSTER_ROLE_WRITER:
			return "writer";
		case CLUSTER_ROLE_HYBRID:
			return "hybrid";
		case CLUSTER_ROLE_NONE:
			break;
	}
	return "none";
}

int
cluster_role_parse(const char *text, ClusterRole *role)
{
	if (text == NULL)
		return CLUSTER_EINVAL;
	if (strcmp(text, "reader") == 0)
		*role = CLUSTER_ROLE_READER;
	else if (strcmp(text, "writer") == 0)
		*role = CLUSTER_ROLE_WRITER;
	else if (strcmp(text, "hybrid") == 0)
		*role = CLUSTER_ROLE_HYBRID;
	else
		return CLUSTER_EINVAL;
	return CLUSTER_OK;
}

static int
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int
cluster_resolve_role(const ClusterRoleInputs *in, ClusterRole *role,
					 const char **source, char *errbuf, size_t errlen)
{
	*role = CLUSTER_ROLE_NONE;
	*source = "";
	if (is_set(in->env_role))
	{
		if (cluster_role_parse(in->env_role, role) != CLUSTER_OK)
		{
			snprintf(errbuf, errlen,
					 "invalid BRAINY_ROLE environment variable \"%.64s\": expected reader, writer or hybrid",
					 in->env_role);
			return CLUSTER_EINVAL;
		}
		*source = "BRAINY_ROLE environment variable";
		return CLUSTER_OK;
	}
	if (is_set(in->setting_role))
	{
		if (cluster_role_parse(in->setting_role, role) != CLUSTER_OK)
		{
			snprintf(errbuf, errlen,
					 "invalid value for brainy.role: \"%.64s\": expected reader, writer or hybrid",
					 in->setting_role);
			return CLUSTER_EINVAL;
		}
		*source = "brainy.role";
		return CLUSTER_OK;
	}
	if (is_set(in->env_mode))
	{
		if (strcmp(in->env_mode, "read-only") == 0)
			*role = CLUSTER_ROLE_READER;
		else if (strcmp(in->env_mode, "write-only") == 0)
			*role = CLUSTER_ROLE_WRITER;
		else
		{
			snprintf(errbuf, errlen,
					 "invalid BRAINY_MODE environment variable \"%.64s\": expected read-only or write-only",
					 in->env_mode);
			return CLUSTER_EINVAL;
		}
		*source = "BRAINY_MODE environment variable";
		return CLUSTER_OK;
	}
	if (in->hot_standby)
	{
		*role = CLUSTER_ROLE_READER;
		*source = "inferred: the server is a hot standby";
		return CLUSTER_OK;
	}
	if (in->default_read_only)
	{
		*role = CLUSTER_ROLE_READER;
		*source = "inferred: default_transaction_read_only = on";
		return CLUSTER_OK;
	}
	snprintf(errbuf, errlen,
			 "this node's role is not set: add brainy.role = 'reader', 'writer' or 'hybrid' to postgresql.conf (or set the BRAINY_ROLE environment variable)");
	return CLUSTER_EINVAL;
}

int
cluster_id_check(const char *id, char *errbuf, size_t errlen)
{
	size_t		n,
				i;

	if (id == NULL || id[0] == '\0')
	{
		snprintf(errbuf, errlen, "instance id is empty");
		return CLUSTER_EINVAL;
	}
	n = strlen(id);
	if (n > CLUSTER_ID_MAX)
	{
		snprintf(errbuf, errlen, "instance id is longer than %d characters", CLUSTER_ID_MAX);
		return CLUSTER_EINVAL;
	}
	if (id[0] == '.')
	{
		snprintf(errbuf, errlen, "instance id \"%s\" starts with '.'", id);
		return CLUSTER_EINVAL;
	}
	for (i = 0; i < n; i++)
	{
		char		c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
		{
			snprintf(errbuf, errlen,
					 "instance id \"%.64s\" has a character other than letters, digits, '.', '_' and '-'",
					 id);
			return CLUSTER_EINVAL;
		}
	}
	return CLUSTER_OK;
}
