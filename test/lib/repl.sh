# repl.sh - helpers for the replication suites (test/suites/repl_*.sh) and
# bench-repl: Brainy nodes (writers, readers, hybrids) sharing one bucket,
# the fault proxy (test/unit/bin/fault_proxy) in front of the S3 server,
# content digests, and waiting through brainy.flush() / brainy.wait_for().
#
# Source pgcluster.sh and cluster_nodes.sh first, then this file:
#   repl_node NAME ROLE URL [extra postgresql.conf lines...]
#       cn_start with brainy.role = ROLE, brainy.instance_id = NAME and
#       short replication intervals (REPL_POLL, REPL_FLUSH, REPL_BATCH,
#       REPL_WAIT_TIMEOUT); heartbeat 1 s (CN_HEARTBEAT).
#   repl_items NODE DIM [TABLE]     CREATE TABLE TABLE (default items)
#                                   (id bigint primary key, embedding vector(DIM), title text)
#   repl_digest NODE TABLE          "rows:md5" over (id, embedding::text, title)
#                                   of every row, ordered by id
#   repl_flush NODE [COLLECTION]    brainy.flush(): prints the token
#   repl_wait_for NODE TOKEN        brainy.wait_for(TOKEN) (fails on error)
#   repl_sync "WRITERS" "READERS" [COLLECTION]
#                                   flush every writer, wait on every reader
#                                   for the combined token
#   repl_worker_pid NODE            PID of the brainy replication worker
#   repl_wait_up NODE SECONDS       until NODE accepts queries and has a
#                                   replication worker again (after a crash)
#   repl_sql NODE SQL               like cn_sql, with a statement time limit
#                                   (REPL_STATEMENT_TIMEOUT, 120 s)
#   repl_bucket_dir                 a fresh file:// bucket directory
#                                   (owned by the server user); prints it
#   repl_proxy_start NAME UPSTREAM_PORT [fault_proxy options...]
#       start the fault proxy (building it if needed); sets
#       REPL_PROXY_<NAME>_PORT and _PID; stats in repl_proxy_stat
#   repl_proxy_toggle NAME          faults off/on (SIGUSR1)
#   repl_proxy_stat NAME KEY        one count from its stats file (see
#                                   test/unit/fault_proxy_main.c for keys)
#   repl_proxy_snapshot NAME FILE   all its counts at once, copied to FILE;
#   repl_stat FILE KEY              one count from such a copy
#   repl_proxy_stop NAME            stop it (TERM by PID); shows its summary
#   repl_bg COMMAND...              run COMMAND in the background, PID
#                                   recorded in REPL_BG_PIDS (stopped by repl_cleanup)
#   repl_cleanup                    stop every proxy and background command
#                                   started here, by PID; call it from the
#                                   suite's pgc_on_exit
# Everything listens on 127.0.0.1 only.

. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"
REPL_ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
REPL_POLL=${REPL_POLL:-200ms}
REPL_FLUSH=${REPL_FLUSH:-200ms}
REPL_BATCH=${REPL_BATCH:-1000}
REPL_WAIT_TIMEOUT=${REPL_WAIT_TIMEOUT:-60s}
REPL_STATEMENT_TIMEOUT=${REPL_STATEMENT_TIMEOUT:-120s}	# repl_sql's limit (0: none)
# a crashed node takes a few seconds to come back: a short instance
# timeout would declare it dead in between
CN_TIMEOUT=${CN_TIMEOUT:-10s}
REPL_PROXIES=""
REPL_BG_PIDS=()
# proxy port and stats files, buckets: in REPL_DIR (the caller's, or ours)
if [ -z "${REPL_DIR:-}" ]; then
	REPL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/brainy-repl.XXXXXX") || return 1
	chmod 755 "$REPL_DIR"
	REPL_DIR_OWNED=1
fi

repl_dir() { echo "$REPL_DIR"; }

repl_node() {
	local name=$1 role=$2 url=$3; shift 3
	cn_start "$name" "$url" \
		"brainy.role = '$role'" \
		"brainy.instance_id = '$name'" \
		"brainy.poll_interval = '$REPL_POLL'" \
		"brainy.flush_interval = '$REPL_FLUSH'" \
		"brainy.batch_size = $REPL_BATCH" \
		"brainy.wait_timeout = '$REPL_WAIT_TIMEOUT'" \
		"$@"
}

repl_sql() {
	local name=$1; shift
	PGOPTIONS="-c statement_timeout=$REPL_STATEMENT_TIMEOUT" pgc_psql "$name" -d postgres -At -c "$1" 2>&1
}

repl_items() {
	local node=$1 dim=$2 table=${3:-items}
	repl_sql "$node" "CREATE TABLE $table (id bigint PRIMARY KEY, embedding vector($dim), title text)" >/dev/null
}

repl_digest() {
	local node=$1 table=$2
	repl_sql "$node" "SELECT count(*) || ':' || md5(coalesce(string_agg(
		id::text || '|' || coalesce(embedding::text, '<null>') || '|' || coalesce(title, '<null>'),
		E'\n' ORDER BY id), '')) FROM $table"
}

repl_flush() {
	local node=$1 coll=${2:-}
	if [ -n "$coll" ]; then
		repl_sql "$node" "SELECT brainy.flush('$coll')"
	else
		repl_sql "$node" "SELECT brainy.flush()"
	fi
}

repl_wait_for() {
	local out
	out=$(repl_sql "$1" "SELECT brainy.wait_for('$2')") || { echo "$out"; return 1; }
	return 0
}

# repl_sync "w1 w2" "r1 r2" [COLLECTION]: 0 when every reader has applied
# everything every writer had committed before the call; prints what failed
repl_sync() {
	local writers=$1 readers=$2 coll=${3:-} w r t token=""
	for w in $writers; do
		t=$(repl_flush "$w" "$coll") || { echo "flush on $w failed: $t"; return 1; }
		case $t in (*ERROR*) echo "flush on $w failed: $t"; return 1;; esac
		token=${token:+$token,}$t
	done
	for r in $readers; do
		repl_wait_for "$r" "$token" || { echo "wait_for on $r ($token) failed"; return 1; }
	done
	return 0
}

repl_worker_pid() {
	cn_sql "$1" "SELECT pid FROM pg_stat_activity WHERE backend_type = 'brainy replication worker'"
}

repl_wait_up() {
	local node=$1 limit=$2 i pid
	for i in $(seq 1 $((limit * 5))); do
		pid=$(repl_worker_pid "$node" 2>/dev/null)
		case $pid in (""|*[!0-9]*) ;; (*) return 0;; esac
		sleep 0.2
	done
	return 1
}

repl_bucket_dir() {
	local d
	d=$(repl_dir)/bucket.$RANDOM$RANDOM
	mkdir -p "$d" || return 1
	[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$d"
	echo "$d"
}

# --- the fault proxy ------------------------------------------------------------

REPL_PROXY_BIN=$REPL_ROOT/test/unit/bin/fault_proxy

repl_proxy_start() {
	local name=$1 upstream=$2; shift 2
	local dir i port pid
	dir=$(repl_dir) || return 1
	if [ ! -x "$REPL_PROXY_BIN" ]; then
		make -s -C "$REPL_ROOT" test/unit/bin/fault_proxy >"$dir/proxy-build.log" 2>&1 ||
			{ cat "$dir/proxy-build.log" >&2; return 1; }
	fi
	rm -f "$dir/proxy-$name.port"
	"$REPL_PROXY_BIN" --upstream-port "$upstream" --port-file "$dir/proxy-$name.port" \
		--stats-file "$dir/proxy-$name.stats" "$@" 2>"$dir/proxy-$name.log" &
	pid=$!
	REPL_PROXIES="$REPL_PROXIES $name"
	eval "REPL_PROXY_${name}_PID=$pid"
	for i in $(seq 1 100); do
		[ -s "$dir/proxy-$name.port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	port=$(cat "$dir/proxy-$name.port" 2>/dev/null)
	if [ -z "$port" ]; then
		echo "repl: fault proxy $name did not start:" >&2
		cat "$dir/proxy-$name.log" >&2
		return 1
	fi
	eval "REPL_PROXY_${name}_PORT=$port"
}

repl_proxy_toggle() {
	local pid; eval "pid=\${REPL_PROXY_${1}_PID:-}"
	[ -n "$pid" ] && kill -USR1 "$pid"
}

repl_proxy_stat() {
	local f
	f=$(repl_dir)/proxy-$1.stats
	sleep 0.15				# the file is rewritten every 100 ms
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$f" 2>/dev/null
}

repl_proxy_snapshot() {
	sleep 0.15
	cp "$(repl_dir)/proxy-$1.stats" "$2"
}

repl_stat() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$1" 2>/dev/null
}

repl_proxy_stop() {
	local name=$1 pid
	eval "pid=\${REPL_PROXY_${name}_PID:-}"
	[ -n "$pid" ] || return 0
	stop_pid "$pid"
	eval "REPL_PROXY_${name}_PID="
	tail -n 1 "$(repl_dir)/proxy-$name.log" | sed "s/^/# proxy $name: /"
}

repl_bg() {
	"$@" &
	REPL_BG_PIDS+=($!)
}

repl_cleanup() {
	local p n
	for p in "${REPL_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	REPL_BG_PIDS=()
	for n in $REPL_PROXIES; do repl_proxy_stop "$n" >/dev/null; done
	REPL_PROXIES=""
	if [ -n "${REPL_DIR_OWNED:-}" ] && [ -z "${PGC_KEEP:-}" ]; then
		rm -rf "$REPL_DIR"
	fi
}

# repl_vec_fn NODE: public.tvec(seed bigint, dim int) -> vector, a fixed
# pseudo-random vector per seed (components 0.00 .. 99.99 from md5), so
# that a row's content is a function of its id and a retried or repeated
# statement writes the same thing
repl_vec_fn() {
	repl_sql "$1" "CREATE OR REPLACE FUNCTION public.tvec(seed bigint, dim int) RETURNS vector
		LANGUAGE sql IMMUTABLE PARALLEL SAFE AS \$\$
		SELECT array_agg(((('x' || substr(md5(seed::text || ':' || j), 1, 6))::bit(24)::int % 10000) / 100.0)::real
			ORDER BY j)::vector FROM generate_series(1, dim) j \$\$" >/dev/null
}
