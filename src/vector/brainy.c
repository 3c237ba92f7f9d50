/*
 * brainy.c - the extension's entry point.
 *
 * Owns PG_MODULE_MAGIC and _PG_init: picks the distance kernels for this CPU
 * once, when the library is loaded, and lets each module register its
 * settings.  Loaded through shared_preload_libraries, it also reserves the
 * cluster state in shared memory and, when brainy.storage is set, starts
 * the cluster background worker (src/worker).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "repl.h"
#include "storage_settings.h"
#include "vector.h"
#include "worker.h"

/* src/am/hnsw_am.c: reloptions and GUCs of the brainy_hnsw access method */
extern void brainy_hnsw_init(void);


PG_MODULE_MAGIC;

const BrainyKernels *brainy_active_kernels = &brainy_kernels_scalar;

void		_PG_init(void);

void
_PG_init(void)
{
	brainy_active_kernels = brainy_kernels();
	/*
	 * Settings first: brainy_hnsw_init() reserves the "brainy." prefix, which
	 * drops postgresql.conf placeholders of settings not yet defined.
	 */
	brainy_storage_init();
	brainy_cluster_settings_init();
	brainy_repl_settings_init();
	brainy_hnsw_init();
	brainy_consistency_init();

	if (process_shared_preload_libraries_in_progress)
	{
		brainy_cluster_shmem_init();
		/* with brainy.storage empty this is a single-node server */
		if (brainy_storage_url()[0] != '\0')
		{
			brainy_worker_register();
			brainy_repl_worker_register();
		}
	}
}

PG_FUNCTION_INFO_V1(brainy_kernel_name);

/* The instruction set of the distance kernels in use: scalar, avx2, avx512. */
Datum
brainy_kernel_name(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(brainy_active_kernels->name));
}
