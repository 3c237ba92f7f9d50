/*
 * storage_settings.c - the object store's settings and the backend's store
 * handle.
 *
 * src/api is the C side of Brainy's SQL API (DESIGN.md section 2); this
 * file owns the settings every distributed feature will read:
 *
 *	brainy.storage                file:///dir or s3://bucket/prefix
 *	brainy.s3_endpoint            custom endpoint (S3-compatible servers)
 *	brainy.s3_region              signing region
 *	brainy.s3_access_key_id       \  superuser-only (GUC_SUPERUSER_ONLY):
 *	brainy.s3_secret_access_key   /  hidden from SHOW and pg_settings
 *	brainy.s3_force_path_style    path-style instead of virtual-hosted
 *	brainy.s3_timeout             per-request timeout
 *
 * Empty credential and region settings fall back to the server's
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION).  No value of a credential is ever put into a message.
 */
#include "postgres.h"

#include <stdlib.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "storage_settings.h"

static char *storage_url = NULL;
static char *s3_endpoint = NULL;
static char *s3_region = NULL;
static char *s3_access_key_id = NULL;
static char *s3_secret_access_key = NULL;
static bool s3_force_path_style = false;
static int	s3_timeout_ms = OBJSTORE_DEFAULT_TIMEOUT_MS;

static ObjStore *cached_store = NULL;
static uint64 cached_fingerprint = 0;
static uint64 cached_generation = 0;	/* bumped at each (re)open */

void
brainy_storage_init(void)
{
	DefineCustomStringVariable("brainy.storage",
							   "Where the shared bucket is: file:///dir or s3://bucket/prefix.",
							   NULL, &storage_url, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.s3_endpoint",
							   "S3 endpoint, http(s)://host[:port]; empty for AWS's regional endpoint.",
							   NULL, &s3_endpoint, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.s3_region",
							   "S3 region used for signing; empty for AWS_REGION or us-east-1.",
							   NULL, &s3_region, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.s3_access_key_id",
							   "S3 access key id; empty for AWS_ACCESS_KEY_ID.",
							   NULL, &s3_access_key_id, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("brainy.s3_secret_access_key",
							   "S3 secret access key; empty for AWS_SECRET_ACCESS_KEY.",
							   NULL, &s3_secret_access_key, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("brainy.s3_force_path_style",
							 "Address S3 as endpoint/bucket/key instead of bucket.endpoint/key.",
							 NULL, &s3_force_path_style, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("brainy.s3_timeout",
							"Time limit of one S3 request (each retry has its own).",
							NULL, &s3_timeout_ms, OBJSTORE_DEFAULT_TIMEOUT_MS, 100, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	/* the "brainy." prefix is reserved by brainy_hnsw_init(), called after this */

	/*
	 * Until a backend loads this library, a setting from postgresql.conf is
	 * a placeholder without GUC_SUPERUSER_ONLY, which any role can SHOW.
	 * Only shared_preload_libraries closes that window for every session.
	 */
	if (!process_shared_preload_libraries_in_progress &&
		((s3_secret_access_key && s3_secret_access_key[0]) ||
		 (s3_access_key_id && s3_access_key_id[0])))
		ereport(WARNING,
				(errmsg("S3 credentials are set but brainy is not in shared_preload_libraries"),
				 errdetail("Sessions that have not loaded brainy show brainy.s3_* settings to every role."),
				 errhint("Add brainy to shared_preload_libraries, or pass the credentials in the AWS_* environment variables.")));
}

const char *
brainy_storage_url(void)
{
	return storage_url ? storage_url : "";
}

static const char *
setting_or_env(const char *setting, const char *env)
{
	const char *v;

	if (setting != NULL && setting[0] != '\0')
		return setting;
	v = getenv(env);
	return (v != NULL && v[0] != '\0') ? v : NULL;
}

static uint64
mix(uint64 h, const char *s)
{
	if (s == NULL)
		s = "";
	return hash_bytes_extended((const unsigned char *) s, (int) strlen(s) + 1, h);
}

/* The store settings as they are now; ERROR when brainy.storage is empty. */
static void
storage_config(ObjStoreConfig *cfg)
{
	ObjStoreConfig c;

	if (storage_url == NULL || storage_url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("brainy.storage is not set"),
				 errhint("Set it to file:///path/to/dir or s3://bucket/prefix in postgresql.conf.")));

	memset(&c, 0, sizeof(c));
	c.endpoint = s3_endpoint;
	c.region = setting_or_env(s3_region, "AWS_REGION");
	c.access_key_id = setting_or_env(s3_access_key_id, "AWS_ACCESS_KEY_ID");
	c.secret_access_key = setting_or_env(s3_secret_access_key, "AWS_SECRET_ACCESS_KEY");
	c.session_token = setting_or_env(NULL, "AWS_SESSION_TOKEN");
	c.force_path_style = s3_force_path_style;
	c.timeout_ms = s3_timeout_ms;
	*cfg = c;
}

ObjStore *
brainy_storage_open_new(void)
{
	ObjStoreConfig c;
	ObjStoreError err;
	ObjStore   *store;

	storage_config(&c);
	store = objstore_open(storage_url, &c, &err);
	if (store == NULL)
		brainy_storage_error("opening the storage", &err);
	return store;
}

ObjStore *
brainy_storage_handle(void)
{
	ObjStoreConfig c;
	ObjStoreError err;
	uint64		fp;

	storage_config(&c);

	/* a fingerprint of every setting (not a copy of the secret) */
	fp = mix(0, storage_url);
	fp = mix(fp, c.endpoint);
	fp = mix(fp, c.region);
	fp = mix(fp, c.access_key_id);
	fp = mix(fp, c.secret_access_key);
	fp = mix(fp, c.session_token);
	fp = mix(fp, c.force_path_style ? "path" : "virtual");
	fp = hash_bytes_uint32_extended((uint32) c.timeout_ms, fp);

	if (cached_store != NULL && fp == cached_fingerprint)
		return cached_store;
	if (cached_store != NULL)
	{
		objstore_close(cached_store);
		cached_store = NULL;
	}
	cached_store = objstore_open(storage_url, &c, &err);
	if (cached_store == NULL)
		brainy_storage_error("opening the storage", &err);
	cached_fingerprint = fp;
	cached_generation++;
	return cached_store;
}

void
brainy_storage_error(const char *what, const ObjStoreError *err)
{
	int			code;

	switch (err->status)
	{
		case OBJSTORE_NOT_FOUND:
			code = ERRCODE_UNDEFINED_OBJECT;
			break;
		case OBJSTORE_INVALID_ARGUMENT:
			code = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case OBJSTORE_TIMEOUT:
		case OBJSTORE_NETWORK:
			code = ERRCODE_CONNECTION_FAILURE;
			break;
		case OBJSTORE_NO_MEMORY:
			code = ERRCODE_OUT_OF_MEMORY;
			break;
		default:
			code = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
			break;
	}
	/* err->message never holds credentials (src/objstore guarantees it) */
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s failed: %s", what, objstore_status_name(err->status)),
			 (err->http_status != 0 || err->attempts > 1) ?
			 errdetail("%s (code \"%s\", HTTP status %d, %d attempt(s))",
					   err->message, err->code, err->http_status, err->attempts) :
			 errdetail("%s", err->message)));
	pg_unreachable();
}

uint64
brainy_storage_generation(void)
{
	return cached_generation;
}
