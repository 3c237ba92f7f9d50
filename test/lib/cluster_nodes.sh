# cluster_nodes.sh - Brainy cluster nodes for tests: PostgreSQL clusters
# (test/lib/pgcluster.sh) with brainy preloaded, sharing one bucket, with
# short intervals so membership tests run in seconds.
#
# Source pgcluster.sh first, then this file:
#   cn_start NAME STORAGE_URL [extra postgresql.conf lines...]
#       pgc_start with shared_preload_libraries = 'brainy', brainy.storage,
#       heartbeat 1s, timeout 3s, config poll 1s, brainy.log_level = debug
#       and CREATE EXTENSION brainy.  Environment variables set for the
#       call (BRAINY_ROLE=... cn_start ...) reach the server.
#   cn_sql NAME SQL                 one value, unaligned, errors on stdout too
#   cn_wait SECONDS COMMAND...      run COMMAND every 0.2 s until it succeeds
#   cn_health NAME FIELD            a top-level field of brainy.health()
#   cn_worker_pid NAME              PID of the brainy cluster worker ("" if none)
#   cn_log NAME                     path of the server log
# S3: set CN_S3_CONF to the extra lines (endpoint, credentials) every node gets.

CN_HEARTBEAT=${CN_HEARTBEAT:-1s}
CN_TIMEOUT=${CN_TIMEOUT:-3s}
CN_POLL=${CN_POLL:-1s}
CN_S3_CONF=()

cn_start() {
	local name=$1 url=$2; shift 2
	local attempt
	# a free port can be taken between the check and the bind: try again
	for attempt in 1 2 3; do
		cn_start_once "$name" "$url" "$@" && return 0
		echo "cluster_nodes: $name did not start (attempt $attempt)" >&2
	done
	return 1
}

cn_start_once() {
	local name=$1 url=$2; shift 2
	pgc_start "$name" \
		"shared_preload_libraries = 'brainy'" \
		"brainy.storage = '$url'" \
		"brainy.heartbeat_interval = '$CN_HEARTBEAT'" \
		"brainy.instance_timeout = '$CN_TIMEOUT'" \
		"brainy.config_poll_interval = '$CN_POLL'" \
		"brainy.log_level = 'debug'" \
		"${CN_S3_CONF[@]}" \
		"$@" || return 1
	# (a node may run with default_transaction_read_only = on)
	PGOPTIONS="-c default_transaction_read_only=off" \
		pgc_psql "$name" -d postgres -c "CREATE EXTENSION IF NOT EXISTS brainy" >/dev/null
}

cn_sql() {
	local name=$1; shift
	pgc_psql "$name" -d postgres -At -c "$1" 2>&1
}

cn_wait() {
	local limit=$1 i; shift
	for i in $(seq 1 $((limit * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

cn_health() {
	cn_sql "$1" "SELECT brainy.health()->>'$2'"
}

cn_worker_pid() {
	cn_sql "$1" "SELECT pid FROM pg_stat_activity WHERE backend_type = 'brainy cluster worker'"
}

cn_log() {
	local dir; eval "dir=\$PGC_${1}_DIR"
	echo "$dir/server.log"
}
