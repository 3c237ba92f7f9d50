/*
 * storage_settings.h - the PostgreSQL side of the object store: settings
 * (GUCs) and the backend's store handle built from them.
 */
#ifndef BRAINY_STORAGE_SETTINGS_H
#define BRAINY_STORAGE_SETTINGS_H

#include "objstore.h"

/* Registers the brainy.storage and brainy.s3_* settings (from _PG_init). */
extern void brainy_storage_init(void);

/* brainy.storage as set ("" when empty: single-node, no cluster) */
extern const char *brainy_storage_url(void);

/*
 * The store for the current settings, opened on first use and reopened
 * when the settings change; kept for the life of the backend so requests
 * reuse one connection.  Raises an ERROR if it cannot be opened.
 */
extern ObjStore *brainy_storage_handle(void);

/*
 * A new store with the current settings, for a user of its own (the
 * replication reader's prefetch thread); the caller closes it.  ERROR if
 * it cannot be opened.
 */
extern ObjStore *brainy_storage_open_new(void);

/* Changes each time brainy_storage_handle() opens a new store. */
extern uint64 brainy_storage_generation(void);

/* ereport(ERROR) for a failed operation; never returns. */
extern void brainy_storage_error(const char *what, const ObjStoreError *err)
			pg_attribute_noreturn();

#endif							/* BRAINY_STORAGE_SETTINGS_H */
