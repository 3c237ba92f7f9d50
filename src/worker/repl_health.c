/*
 * repl_health.c - replication's part of brainy.health() and of the
 * heartbeat: outboxPending and replicationLagMs in the metrics, and a
 * "replication" object with, per published collection, the last segment,
 * the outbox and the publish rate, and per followed collection and writer,
 * the applied and head seq, the lag and the apply rate.  Built from the
 * replication worker's shared state; nothing here reads a table.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "repl.h"

static void
json_string(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "\"%s\": ", key);
	escape_json(buf, value);
}

void
brainy_repl_health_inputs(ClusterHealthInputs *in)
{
	BrainyReplState *rs = brainy_repl_state();
	BrainyReplCollection *copy;
	StringInfoData pub,
				sub,
				errors;
	char		store_error[CLUSTER_ERRLEN];
	int			i,
				j,
				npub = 0,
				nsub = 0;
	int64		pending = 0,
				lag = -1;
	TimestampTz now = GetCurrentTimestamp();

	if (rs == NULL)
		return;
	copy = palloc(sizeof(BrainyReplCollection) * BRAINY_REPL_MAX_COLLECTIONS);
	SpinLockAcquire(&rs->mutex);
	memcpy(copy, rs->collections, sizeof(BrainyReplCollection) * BRAINY_REPL_MAX_COLLECTIONS);
	strlcpy(store_error, rs->store_error, sizeof(store_error));
	SpinLockRelease(&rs->mutex);

	initStringInfo(&pub);
	initStringInfo(&sub);
	initStringInfo(&errors);
	/* the replication worker's store failures count like the cluster worker's */
	if (store_error[0] != '\0' && (in->store_error == NULL || in->store_error[0] == '\0'))
		in->store_error = pstrdup(store_error);
	for (i = 0; i < BRAINY_REPL_MAX_COLLECTIONS; i++)
	{
		BrainyReplCollection *c = &copy[i];

		if (!c->used)
			continue;
		if (c->published)
		{
			appendStringInfoString(&pub, npub++ ? ", {" : "{");
			json_string(&pub, "collection", c->name);
			appendStringInfo(&pub, ", \"seq\": " INT64_FORMAT ", \"outboxPending\": " INT64_FORMAT
							 ", \"backfillDone\": %s, \"rowsPerSecond\": %.1f, \"rowsPublished\": " INT64_FORMAT ", ",
							 c->published_seq, c->outbox_pending, c->backfill_done ? "true" : "false",
							 c->publish_rows_per_second, c->rows_published);
			if (c->publish_error[0] != '\0')
				json_string(&pub, "error", c->publish_error);
			else
				appendStringInfoString(&pub, "\"error\": null");
			appendStringInfoChar(&pub, '}');
			pending += c->outbox_pending;
			if (c->publish_error[0] != '\0')
				appendStringInfo(&errors, "%spublishing \"%s\": %s", errors.len ? "; " : "",
								 c->name, c->publish_error);
		}
		if (c->subscribed)
		{
			appendStringInfoString(&sub, nsub++ ? ", {" : "{");
			json_string(&sub, "collection", c->name);
			if (c->fresh_as_of != 0)
				appendStringInfo(&sub, ", \"stalenessMs\": " INT64_FORMAT,
								 (int64) Max(now - c->fresh_as_of, 0) / 1000);
			else
				appendStringInfoString(&sub, ", \"stalenessMs\": null");
			appendStringInfoString(&sub, ", \"writers\": [");
			if (lag < 0)
				lag = 0;
			for (j = 0; j < c->n_writers; j++)
			{
				BrainyReplWriter *w = &c->writers[j];

				appendStringInfoString(&sub, j ? ", {" : "{");
				json_string(&sub, "writerId", w->writer_id);
				appendStringInfo(&sub, ", \"appliedSeq\": " INT64_FORMAT ", \"headSeq\": " INT64_FORMAT
								 ", \"lagSeconds\": %.3f, \"rowsPerSecond\": %.1f, \"rowsApplied\": " INT64_FORMAT
								 ", \"state\": \"%s\", ",
								 w->applied_seq, Max(w->head_seq, w->applied_seq), w->lag_ms / 1000.0,
								 w->rows_per_second, w->rows_applied, w->stopped ? "stopped" : "following");
				if (w->error[0] != '\0')
					json_string(&sub, "error", w->error);
				else
					appendStringInfoString(&sub, "\"error\": null");
				appendStringInfoChar(&sub, '}');
				/* the lag of the writers this node is behind; 0 when caught up */
				if (!w->caught_up && w->applied_at != 0)
					lag = Max(lag, w->lag_ms);
				if (w->stopped)
					appendStringInfo(&errors, "%s\"%s\" from writer \"%s\" stopped: %s", errors.len ? "; " : "",
									 c->name, w->writer_id, w->error);
			}
			appendStringInfoString(&sub, "]}");
		}
	}
	if (errors.len > 0)
		in->replication_error = errors.data;
	if (npub > 0)
		in->outbox_pending = pending;
	if (nsub > 0)
		in->replication_lag_ms = lag;
	if (npub > 0 || nsub > 0)
		in->replication_json = psprintf("{\"published\": [%s], \"subscribed\": [%s]}", pub.data, sub.data);
	pfree(copy);
}
