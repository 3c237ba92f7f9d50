# Makefile - builds the brainy extension with PGXS, plus its unit tests and
# benchmarks.
#
#   make                  build brainy.so
#   make install          install it into the PostgreSQL found by pg_config
#   make unittest         plain-C unit tests, under AddressSanitizer + UBSan
#   make installcheck     pg_regress against a running server (PGHOST/PGPORT)
#   make bench            benchmark tables (see test/bench/)
#   test/all.sh           everything CI runs (see README)

EXTENSION = brainy
MODULE_big = brainy
# the install script of each version and every upgrade script between them
DATA = $(wildcard sql/brainy--*.sql)

VECTOR_OBJS = src/vector/brainy.o \
	src/vector/vector_io.o \
	src/vector/vector_ops.o \
	src/vector/vector_arg.o \
	src/vector/vector_cmp.o \
	src/vector/vector_agg.o \
	src/vector/vector_cast.o \
	src/vector/float_parse.o \
	src/vector/quant_sq8.o \
	src/vector/distance_scalar.o \
	src/vector/distance_avx2.o \
	src/vector/distance_avx512.o \
	src/vector/distance_dispatch.o

HNSW_OBJS = $(patsubst %.c,%.o,$(wildcard src/hnsw/*.c))
AM_OBJS = $(patsubst %.c,%.o,$(wildcard src/am/*.c))
# the object store (plain C) and its PostgreSQL side (settings, SQL functions)
OBJSTORE_OBJS = $(patsubst %.c,%.o,$(wildcard src/objstore/*.c))
API_OBJS = $(patsubst %.c,%.o,$(wildcard src/api/*.c))
# cluster membership: the plain-C logic and the background worker
CLUSTER_OBJS = $(patsubst %.c,%.o,$(wildcard src/cluster/*.c))
WORKER_OBJS = $(patsubst %.c,%.o,$(wildcard src/worker/*.c))

OBJS = $(VECTOR_OBJS) $(HNSW_OBJS) $(AM_OBJS) $(OBJSTORE_OBJS) $(API_OBJS) \
	$(CLUSTER_OBJS) $(WORKER_OBJS)

PG_CPPFLAGS = -Isrc/vector -Isrc/hnsw -Isrc/objstore -Isrc/cluster -Isrc/worker -Isrc/api
PG_CFLAGS = -std=gnu11 -pthread
# export only what PostgreSQL looks up (see the file); the HNSW engine's
# parallel build uses POSIX threads; the object store speaks HTTP with
# libcurl and signs with OpenSSL's libcrypto; the cluster module parses
# JSON with json-c and hashes partitions with xxHash
SHLIB_LINK += -Wl,--version-script=src/brainy.map -pthread -lcurl -lcrypto -ljson-c -lxxhash

REGRESS = vector_input vector_typmod vector_binary vector_cast \
	vector_distance vector_arith vector_compare vector_agg vector_toast vector_fuzz \
	hnsw_basic hnsw_quant hnsw_pending storage cluster repl_writer repl_reader
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: when one of our headers changes,
# rebuild every object (and the JIT bitcode) so no two disagree on a layout.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*/*.h)

# --- plain-C unit tests (no server), under sanitizers ------------------------

UNIT_CC ?= $(CC)
UNIT_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -pthread -Isrc/vector
UNIT_BIN = test/unit/bin

DISTANCE_SRCS = src/vector/distance_scalar.c src/vector/distance_avx2.c \
	src/vector/distance_avx512.c src/vector/distance_dispatch.c

$(UNIT_BIN)/test_distance: test/unit/test_distance.c $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ test/unit/test_distance.c $(DISTANCE_SRCS) -lm

$(UNIT_BIN)/test_float_parse: test/unit/test_float_parse.c src/vector/float_parse.c src/vector/float_parse.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ test/unit/test_float_parse.c src/vector/float_parse.c -lm

HNSW_SRCS = $(wildcard src/hnsw/*.c)
HNSW_HDRS = $(wildcard src/hnsw/*.h)

$(UNIT_BIN)/test_hnsw: test/unit/test_hnsw.c test/unit/test_hnsw_common.h $(HNSW_SRCS) $(HNSW_HDRS) $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/hnsw -o $@ test/unit/test_hnsw.c $(HNSW_SRCS) $(DISTANCE_SRCS) -lm

# the parallel build (threads); also worth running under ThreadSanitizer:
#   make test/unit/bin/test_hnsw_parallel_tsan && test/unit/bin/test_hnsw_parallel_tsan
$(UNIT_BIN)/test_hnsw_parallel: test/unit/test_hnsw_parallel.c test/unit/test_hnsw_common.h $(HNSW_SRCS) $(HNSW_HDRS) $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/hnsw -o $@ test/unit/test_hnsw_parallel.c $(HNSW_SRCS) $(DISTANCE_SRCS) -lm

$(UNIT_BIN)/test_hnsw_parallel_tsan: test/unit/test_hnsw_parallel.c $(HNSW_SRCS) $(HNSW_HDRS) $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fsanitize=thread \
		-pthread -Isrc/vector -Isrc/hnsw -o $@ test/unit/test_hnsw_parallel.c $(HNSW_SRCS) $(DISTANCE_SRCS) -lm

# 8-bit scalar quantization; its kernels are in DISTANCE_SRCS.  Not part of
# brainy.so yet: the index access method will link it.
QUANT_SRCS = src/vector/quant_sq8.c

$(UNIT_BIN)/test_quant: test/unit/test_quant.c $(QUANT_SRCS) src/vector/quant_sq8.h $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ test/unit/test_quant.c $(QUANT_SRCS) $(DISTANCE_SRCS) -lm

OBJSTORE_SRCS = $(wildcard src/objstore/*.c)
OBJSTORE_HDRS = $(wildcard src/objstore/*.h)
OBJSTORE_LIBS = -lcurl -lcrypto -lpthread
FAULT_PROXY = test/unit/fault_proxy.c test/unit/fault_proxy.h

$(UNIT_BIN)/test_objstore_sigv4: test/unit/test_objstore_sigv4.c $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_sigv4.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

$(UNIT_BIN)/test_objstore_xml: test/unit/test_objstore_xml.c $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_xml.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

$(UNIT_BIN)/test_objstore_file: test/unit/test_objstore_file.c $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_file.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

$(UNIT_BIN)/test_objstore_prefetch: test/unit/test_objstore_prefetch.c $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_prefetch.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

$(UNIT_BIN)/test_objstore_retry: test/unit/test_objstore_retry.c $(FAULT_PROXY) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_retry.c test/unit/fault_proxy.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

# The contract suite: against a temporary file:// directory by default
# (`make unittest`), against RGW in test/suites/objstore_s3.sh.
$(UNIT_BIN)/test_objstore_contract: test/unit/test_objstore_contract.c $(FAULT_PROXY) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/objstore -o $@ test/unit/test_objstore_contract.c test/unit/fault_proxy.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

CLUSTER_SRCS = $(wildcard src/cluster/*.c)
CLUSTER_HDRS = $(wildcard src/cluster/*.h)

CLUSTER_LIBS = -ljson-c -lxxhash -lm $(OBJSTORE_LIBS)

$(UNIT_BIN)/test_cluster: test/unit/test_cluster.c $(CLUSTER_SRCS) $(CLUSTER_HDRS) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/cluster -Isrc/objstore -o $@ test/unit/test_cluster.c $(CLUSTER_SRCS) $(OBJSTORE_SRCS) $(CLUSTER_LIBS)

# Leases: against a temporary file:// directory by default (`make unittest`),
# against RGW in test/suites/objstore_s3.sh (same OBJSTORE_* settings as the
# contract suite).
$(UNIT_BIN)/test_cluster_lease: test/unit/test_cluster_lease.c $(CLUSTER_SRCS) $(CLUSTER_HDRS) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/cluster -Isrc/objstore -o $@ test/unit/test_cluster_lease.c $(CLUSTER_SRCS) $(OBJSTORE_SRCS) $(CLUSTER_LIBS)

# the change log's clock, segments and schema.json (cluster_segment.h)
$(UNIT_BIN)/test_cluster_segment: test/unit/test_cluster_segment.c $(CLUSTER_SRCS) $(CLUSTER_HDRS) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -Isrc/cluster -Isrc/objstore -o $@ test/unit/test_cluster_segment.c $(CLUSTER_SRCS) $(OBJSTORE_SRCS) $(CLUSTER_LIBS)

# a test tool (not a test): writes hand-made change-log segments into a
# bucket for test/suites/repl_reader.sh
$(UNIT_BIN)/make_segment: test/unit/make_segment.c $(CLUSTER_SRCS) $(CLUSTER_HDRS) $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(UNIT_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread -Isrc/cluster -Isrc/objstore -o $@ test/unit/make_segment.c $(CLUSTER_SRCS) $(OBJSTORE_SRCS) $(CLUSTER_LIBS)

UNIT_TESTS = $(UNIT_BIN)/test_distance $(UNIT_BIN)/test_float_parse \
	$(UNIT_BIN)/test_hnsw $(UNIT_BIN)/test_hnsw_parallel $(UNIT_BIN)/test_quant \
	$(UNIT_BIN)/test_objstore_sigv4 $(UNIT_BIN)/test_objstore_xml \
	$(UNIT_BIN)/test_objstore_file $(UNIT_BIN)/test_objstore_prefetch $(UNIT_BIN)/test_objstore_retry \
	$(UNIT_BIN)/test_objstore_contract $(UNIT_BIN)/test_cluster \
	$(UNIT_BIN)/test_cluster_lease $(UNIT_BIN)/test_cluster_segment

# not a test: the fault-injecting proxy as a program, for the replication
# suites (test/suites/repl_*.sh) and bench-repl
$(UNIT_BIN)/fault_proxy: test/unit/fault_proxy_main.c $(FAULT_PROXY)
	@mkdir -p $(UNIT_BIN)
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ test/unit/fault_proxy_main.c test/unit/fault_proxy.c

.PHONY: unittest-build unittest bench bench-ann bench-hnsw bench-churn bench-quant bench-objstore bench-repl
unittest-build: $(UNIT_TESTS) $(UNIT_BIN)/make_segment $(UNIT_BIN)/fault_proxy

unittest: unittest-build
	@status=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || status=1; done; exit $$status

# --- benchmarks ----------------------------------------------------------------

BENCH_BIN = test/bench/bin

$(BENCH_BIN)/bench_distance: test/bench/bench_distance.c $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(BENCH_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Isrc/vector -o $@ test/bench/bench_distance.c $(DISTANCE_SRCS) -lm

# Brainy vs pgvector (when installed) on Fashion-MNIST and on dense vectors,
# each with the types' own storage, then Fashion-MNIST stored inline for both.
$(BENCH_BIN)/bench_hnsw: test/bench/bench_hnsw.c $(HNSW_SRCS) $(HNSW_HDRS) $(DISTANCE_SRCS)
	@mkdir -p $(BENCH_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -pthread -Isrc/vector -Isrc/hnsw -Itest/unit -o $@ test/bench/bench_hnsw.c $(HNSW_SRCS) $(DISTANCE_SRCS) -lm

bench: $(BENCH_BIN)/bench_distance bench-objstore
	$(BENCH_BIN)/bench_distance
	BENCH_DATASET=fmnist BENCH_STORAGE=default bash test/bench/bench_sql.sh
	BENCH_DATASET=dense BENCH_STORAGE=default bash test/bench/bench_sql.sh
	BENCH_DATASET=fmnist BENCH_STORAGE=plain bash test/bench/bench_sql.sh
	bash test/bench/bench_ann.sh
	$(MAKE) bench-repl

# the HNSW engine alone (no PostgreSQL) on Fashion-MNIST, serial and 2 threads
bench-hnsw: $(BENCH_BIN)/bench_hnsw
	$(BENCH_BIN)/bench_hnsw --fmnist /usr/share/datasets/fashion-mnist --queries 1000 --threads 2

# self-recall through delete + repair + inserts from another distribution
$(BENCH_BIN)/bench_churn: test/bench/bench_churn.c $(HNSW_SRCS) $(HNSW_HDRS) $(DISTANCE_SRCS)
	@mkdir -p $(BENCH_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -pthread -Isrc/vector -Isrc/hnsw -o $@ test/bench/bench_churn.c $(HNSW_SRCS) $(DISTANCE_SRCS) -lm

bench-churn: $(BENCH_BIN)/bench_churn
	$(BENCH_BIN)/bench_churn

$(BENCH_BIN)/bench_quant: test/bench/bench_quant.c $(QUANT_SRCS) src/vector/quant_sq8.h $(DISTANCE_SRCS) src/vector/distance.h
	@mkdir -p $(BENCH_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Isrc/vector -Itest/unit -o $@ test/bench/bench_quant.c $(QUANT_SRCS) $(DISTANCE_SRCS) -lm

# SQ8 alone and SQ8 + exact re-ranking: brute-force recall@10 on Fashion-MNIST
bench-quant: $(BENCH_BIN)/bench_quant
	$(BENCH_BIN)/bench_quant --fmnist /usr/share/datasets/fashion-mnist --queries 1000

# HNSW: build time, size, recall@10 and QPS per ef_search, vs pgvector's hnsw
bench-ann:
	bash test/bench/bench_ann.sh

# the object store: file:// create-only PUTs/s; against RGW (started and
# stopped by the script) 1 KiB GET/PUT p50/p99 vs a minimal keep-alive
# client, 1 MiB PUT throughput
$(BENCH_BIN)/bench_objstore: test/bench/bench_objstore.c $(OBJSTORE_SRCS) $(OBJSTORE_HDRS)
	@mkdir -p $(BENCH_BIN)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Isrc/objstore -o $@ test/bench/bench_objstore.c $(OBJSTORE_SRCS) $(OBJSTORE_LIBS)

bench-objstore: $(BENCH_BIN)/bench_objstore
	bash test/bench/bench_objstore.sh

# replication through RGW on loopback: publish and apply rows/s (784 and
# 128 dimensions), PUTs per 1,000 rows, lag p50/p99 under 1,000 rows/s,
# an idle reader's requests per poll (counted by the fault proxy, faults off)
bench-repl: $(UNIT_BIN)/fault_proxy
	bash test/bench/bench_repl.sh

EXTRA_CLEAN = $(UNIT_BIN) $(BENCH_BIN) results regression.diffs regression.out
