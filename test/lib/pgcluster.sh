# pgcluster.sh - start and stop throwaway PostgreSQL clusters for tests.
#
# Source this file, then:
#   pgc_start NAME [extra postgresql.conf lines...]
#       initdb a cluster in a fresh temp dir, owned by an unprivileged user
#       (postgres when run as root), start it on 127.0.0.1 on a free port, and
#       register it to be stopped when the calling shell exits (also on error).
#       Sets PGC_<NAME>_PORT, PGC_<NAME>_DIR, PGC_<NAME>_PID.
#   pgc_psql NAME [psql args...]   run psql against it as the superuser.
#   pgc_stop NAME                  stop it (by its recorded postmaster PID).
#   pgc_restart NAME               restart it in place (same data, port).
#   pgc_start_standby NAME PRIMARY [extra postgresql.conf lines...]
#       take a base backup of the running cluster PRIMARY (pg_basebackup as
#       the unprivileged user, over 127.0.0.1, with -R so it streams from
#       PRIMARY) into a fresh temp dir and start it as a hot standby on its
#       own free port.  Sets and registers the same variables as pgc_start.
#       PRIMARY needs wal_level = replica (PostgreSQL 15's default); initdb's
#       default pg_hba.conf already lets 127.0.0.1 replicate.
# pgc_start installs an EXIT trap that stops every cluster; a caller with its
# own clean-up defines a function pgc_on_exit, which that trap runs too.
# Nothing here listens on anything but 127.0.0.1.

PGC_BINDIR=${PGC_BINDIR:-$(pg_config --bindir)}
PGC_NAMES=""

if [ "$(id -u)" = 0 ]; then
	PGC_OSUSER=${PGC_OSUSER:-postgres}
	# from /, so that a build tree under /root (mode 700) is never the cwd
	pgc_as() { (cd / && runuser -u "$PGC_OSUSER" -- "$@"); }
else
	PGC_OSUSER=$(id -un)
	pgc_as() { "$@"; }
fi

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

pgc_start() {
	local name=$1; shift
	local dir port
	dir=$(mktemp -d "${TMPDIR:-/tmp}/brainy-pg-$name.XXXXXX") || return 1
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$dir"
	port=$(free_port) || return 1
	if ! pgc_as "$PGC_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
			--no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		echo "pgcluster: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		return 1
	fi
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		echo "log_min_messages = warning"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	pgc_launch "$name" "$dir" "$port"
}

# pgc_launch NAME DIR PORT: start the cluster in DIR/data (configured for
# PORT) and register it; on failure show its log and remove DIR.
pgc_launch() {
	local name=$1 dir=$2 port=$3 pid
	if ! pgc_as "$PGC_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
		echo "pgcluster: server failed to start, log:" >&2
		cat "$dir/server.log" >&2
		# pg_ctl may have given up while the postmaster still starts
		if [ -f "$dir/data/postmaster.pid" ]; then
			kill -KILL "$(head -n 1 "$dir/data/postmaster.pid")" 2>/dev/null
		fi
		rm -rf "$dir"
		return 1
	fi
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	eval "PGC_${name}_PORT=$port PGC_${name}_DIR=$dir PGC_${name}_PID=$pid"
	PGC_NAMES="$PGC_NAMES $name"
	trap pgc_stop_all EXIT
	trap 'exit 130' INT TERM
}

pgc_start_standby() {
	local name=$1 primary=$2; shift 2
	local dir port pport
	eval "pport=\${PGC_${primary}_PORT:-}"
	if [ -z "$pport" ]; then
		echo "pgcluster: no running cluster named $primary" >&2
		return 1
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/brainy-pg-$name.XXXXXX") || return 1
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown "$PGC_OSUSER" "$dir"
	port=$(free_port) || return 1
	if ! pgc_as "$PGC_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres \
			-D "$dir/data" -R -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1; then
		echo "pgcluster: pg_basebackup of $primary failed:" >&2
		cat "$dir/basebackup.log" >&2
		rm -rf "$dir"
		return 1
	fi
	# later lines win over the primary's copied settings
	{
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "hot_standby = on"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	pgc_launch "$name" "$dir" "$port"
}

pgc_psql() {
	local name=$1; shift
	local port; eval "port=\$PGC_${name}_PORT"
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

pgc_stop() {
	local name=$1
	local dir pid i
	eval "dir=\${PGC_${name}_DIR:-} pid=\${PGC_${name}_PID:-}"
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid" 2>/dev/null		# fast shutdown of that postmaster
		for i in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			# a child that ignores the shutdown (e.g. a hung background
			# worker) would outlive its postmaster: kill the children
			# first, found by their parent's recorded PID
			local kids
			kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
			[ -n "$kids" ] && kill -KILL $kids 2>/dev/null
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	eval "PGC_${name}_PID="
	PGC_NAMES=$(echo "$PGC_NAMES" | tr ' ' '\n' | grep -vx "$name" | tr '\n' ' ')
	[ -n "$dir" ] && [ -z "${PGC_KEEP:-}" ] && rm -rf "$dir"
	return 0
}

pgc_stop_all() {
	local n
	for n in $PGC_NAMES; do pgc_stop "$n"; done
	if declare -F pgc_on_exit >/dev/null; then pgc_on_exit; fi
}

# pgc_restart NAME: restart the cluster in place (fast shutdown, same data
# directory and port); updates PGC_<NAME>_PID.
pgc_restart() {
	local name=$1 dir pid
	eval "dir=\${PGC_${name}_DIR:-}"
	[ -n "$dir" ] || { echo "pgcluster: no cluster named $name" >&2; return 1; }
	if ! pgc_as "$PGC_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null; then
		echo "pgcluster: restart of $name failed, log:" >&2
		tail -n 30 "$dir/server.log" >&2
		return 1
	fi
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	eval "PGC_${name}_PID=$pid"
}
