# Free TCP ports for test servers on 127.0.0.1.
#
# free_port prints a port that no socket on this machine uses now, in any
# state (listening, connected, TIME_WAIT), picked below the kernel's
# ephemeral range so that an outgoing connection cannot take it between our
# check and the server's bind.  (A CI run once lost the RADOS monitor's
# port that way: it was in the ephemeral range and a client socket got it.)

free_port_used() {
	# $1 = port; true if a tcp/tcp6 socket has it as its local port
	local hex
	hex=$(printf ':%04X ' "$1")
	grep -qs -- "$hex" /proc/net/tcp /proc/net/tcp6
}

free_port() {
	local low high port tries=0
	read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	high=$(( low - 1 ))
	low=15000
	[ "$high" -gt $((low + 1000)) ] || { low=61000; high=64999; }
	while [ $tries -lt 500 ]; do
		port=$(( low + (RANDOM * 32768 + RANDOM) % (high - low + 1) ))
		if ! free_port_used "$port" &&
			! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
			echo "$port"
			return 0
		fi
		tries=$((tries + 1))
	done
	echo "free_port: no free port found" >&2
	return 1
}
