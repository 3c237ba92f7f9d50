/*
 * worker_settings.c - the settings of cluster membership (postgresql.conf):
 *
 *	brainy.role                 reader | writer | hybrid (SIGHUP)
 *	brainy.instance_id          this node's id; empty = generated (restart)
 *	brainy.database             database the worker connects to (restart)
 *	brainy.heartbeat_interval   30s (SIGHUP)
 *	brainy.instance_timeout     60s (SIGHUP)
 *	brainy.config_poll_interval 10s (SIGHUP)
 *	brainy.log_level            warning | info | debug (SIGHUP)
 *
 * brainy.role is a string, not an enum: an invalid value must reach role
 * resolution, which reports it naming the setting, instead of being
 * replaced by the default with a warning at start-up.
 */
#include "postgres.h"

#include <sys/time.h>
#include <time.h>
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "worker.h"

char	   *brainy_role_setting = NULL;
char	   *brainy_instance_id_setting = NULL;
char	   *brainy_database = NULL;
int			brainy_heartbeat_interval_ms = 30000;
int			brainy_instance_timeout_ms = 60000;
int			brainy_config_poll_interval_ms = 10000;
int			brainy_log_level = BRAINY_LOG_INFO;

static const struct config_enum_entry log_level_options[] = {
	{"warning", BRAINY_LOG_WARNING, false},
	{"info", BRAINY_LOG_INFO, false},
	{"debug", BRAINY_LOG_DEBUG, false},
	{NULL, 0, false}
};

void
brainy_cluster_settings_init(void)
{
	/*
	 * Settings read once by the worker at start are PGC_POSTMASTER, which
	 * PostgreSQL allows only while preloading; a library loaded later (no
	 * worker, so nothing reads them) defines them as PGC_SIGHUP.
	 */
	GucContext	at_start = process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("brainy.role",
							   "This node's role in the cluster: reader, writer or hybrid.",
							   "Overridden by the BRAINY_ROLE environment variable; when empty, inferred (BRAINY_MODE, hot standby, default_transaction_read_only).",
							   &brainy_role_setting, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.instance_id",
							   "This node's id in the cluster; empty for a generated id kept in the data directory.",
							   "Overridden by the BRAINY_INSTANCE_ID environment variable.",
							   &brainy_instance_id_setting, "", at_start, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.database",
							   "The database the cluster worker connects to.",
							   NULL, &brainy_database, "postgres", at_start, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.heartbeat_interval",
							"How often this node writes its heartbeat object.",
							NULL, &brainy_heartbeat_interval_ms, 30000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.instance_timeout",
							"A node whose heartbeat is older than this is not alive; after twice this its heartbeat is deleted.",
							NULL, &brainy_instance_timeout_ms, 60000, 500, 24 * 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.config_poll_interval",
							"How often this node checks _brainy/config.json for changes (one request when unchanged).",
							NULL, &brainy_config_poll_interval_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomEnumVariable("brainy.log_level",
							 "What the cluster worker writes to the server log: warning (problems), info (+ role, config changes, health transitions), debug (+ every heartbeat and poll).",
							 NULL, &brainy_log_level, BRAINY_LOG_INFO, log_level_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
}

void
brainy_iso_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm	tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (tv.tv_usec / 1000));
}
