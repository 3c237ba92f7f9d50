# proc.sh - stopping a process the tests started, by the PID they recorded
# (never by name):
#   stop_pid PID   SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps
#                  it when it is a child of this shell
stop_pid() {
	local pid=$1 n
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for n in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}
