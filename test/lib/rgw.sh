# rgw.sh - start and stop a throwaway S3 server for tests: Ceph's RADOS
# Gateway on a single-node cluster (one monitor, one in-memory OSD), all in
# one temp dir, listening on 127.0.0.1 only.  The packages come from
# test/lib/install-deps.sh (ceph-mon, ceph-osd, radosgw, ceph-common).
#
# Source this file, then:
#   rgw_start       start mon, osd and radosgw; create a user with fresh
#                   random keys and the bucket $RGW_BUCKET.  Sets RGW_PORT,
#                   RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_DIR.
#                   Registers rgw_stop to run when the calling shell exits.
#   rgw_stop        stop the daemons by their recorded PIDs (radosgw, osd,
#                   mon, in that order) and delete the temp dir.
#   rgw_gateway_down   stop only radosgw (by its PID): the S3 endpoint goes
#                      away, the cluster stays (outage tests)
#   rgw_gateway_up     start radosgw again on the same port and wait for it
#
# Settings that matter (each cost a failure to find, see the shared notes):
# ms_*_mode = crc with cephx off (else radosgw never reaches the monitor),
# short paxos intervals (else start-up takes 15 s and first writes stall),
# tcp_nodelay=1 on the beast frontend (else small GETs take 44 ms).
# Set RGW_KEEP=1 to keep the directory (logs) after stopping.

RGW_BUCKET=${RGW_BUCKET:-brainy-test}
RGW_PIDS=()

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

rgw_log() { echo "rgw: $*" >&2; }

# rgw_wait SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds
rgw_wait() {
	local limit=$1 i; shift
	for i in $(seq 1 $((limit * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

rgw_osd_up() {
	ceph -c "$RGW_DIR/ceph.conf" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd\.0 up'
}

rgw_http_up() {
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"
}

# A signed request with curl's own SigV4 (only for setting up; the code
# under test signs its own).  rgw_curl METHOD PATH -> HTTP status on stdout.
rgw_curl() {
	curl -s -o "$RGW_DIR/curl.out" -w '%{http_code}' --max-time 10 -X "$1" \
		--aws-sigv4 "aws:amz:us-east-1:s3" -u "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		"http://127.0.0.1:$RGW_PORT$2"
}

rgw_signed_ok() {
	[ "$(rgw_curl GET /)" = 200 ]
}

rgw_fail() {
	rgw_log "$*"
	local f
	for f in "$RGW_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 30 lines)" >&2
		tail -n 30 "$f" >&2
	done
	return 1
}

rgw_start_once() {
	local mon_port fsid uuid conf
	for cmd in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph ceph-authtool curl; do
		command -v "$cmd" >/dev/null 2>&1 || { rgw_log "$cmd not found (test/lib/install-deps.sh installs it)"; return 1; }
	done
	RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/brainy-rgw.XXXXXX") || return 1
	trap rgw_stop EXIT
	trap 'exit 130' INT TERM
	mon_port=$(free_port) || return 1
	RGW_PORT=$(free_port) || return 1
	while [ "$RGW_PORT" = "$mon_port" ]; do RGW_PORT=$(free_port) || return 1; done
	RGW_ENDPOINT=http://127.0.0.1:$RGW_PORT
	fsid=$(cat /proc/sys/kernel/random/uuid)
	uuid=$(cat /proc/sys/kernel/random/uuid)
	# fresh random credentials for every run
	RGW_ACCESS_KEY=BRAINY$(head -c 64 /dev/urandom | tr -dc 'A-Z0-9' | head -c 14)
	RGW_SECRET_KEY=$(head -c 128 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 40)
	conf=$RGW_DIR/ceph.conf
	mkdir -p "$RGW_DIR/mon" "$RGW_DIR/osd" "$RGW_DIR/run"
	cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
keyring = $RGW_DIR/keyring
run dir = $RGW_DIR/run
admin socket = $RGW_DIR/run/\$name.asok
pid file = $RGW_DIR/run/\$name.pid
log file = $RGW_DIR/\$name.log
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.01
paxos min wait = 0.01
mon data = $RGW_DIR/mon/\$cluster-\$id
[osd]
osd objectstore = memstore
memstore device bytes = 1073741824
osd data = $RGW_DIR/osd/\$cluster-\$id
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw dns name = localhost
rgw data = $RGW_DIR/rgw
EOF
	ceph-authtool --create-keyring "$RGW_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' \
		>"$RGW_DIR/setup.log" 2>&1 || { rgw_fail "ceph-authtool failed"; return 1; }
	monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$RGW_DIR/monmap" \
		>>"$RGW_DIR/setup.log" 2>&1 || { rgw_fail "monmaptool failed"; return 1; }
	ceph-mon -c "$conf" --mkfs -i a --monmap "$RGW_DIR/monmap" \
		>>"$RGW_DIR/setup.log" 2>&1 || { rgw_fail "ceph-mon --mkfs failed"; return 1; }
	ceph-mon -c "$conf" -f -i a >>"$RGW_DIR/mon.out" 2>&1 &
	RGW_PIDS+=("mon:$!")
	ceph -c "$conf" --connect-timeout 20 osd new "$uuid" >>"$RGW_DIR/setup.log" 2>&1 ||
		{ rgw_fail "ceph osd new failed"; return 1; }
	mkdir -p "$RGW_DIR/osd/ceph-0"
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$RGW_DIR/setup.log" 2>&1 ||
		{ rgw_fail "ceph-osd --mkfs failed"; return 1; }
	ceph-osd -c "$conf" -f -i 0 >>"$RGW_DIR/osd.out" 2>&1 &
	RGW_PIDS+=("osd:$!")
	rgw_wait 60 rgw_osd_up || { rgw_fail "osd.0 did not come up"; return 1; }
	radosgw -c "$conf" -f -n client.rgw >>"$RGW_DIR/rgw.out" 2>&1 &
	RGW_PIDS+=("rgw:$!")
	rgw_wait 60 rgw_http_up || { rgw_fail "radosgw does not answer on $RGW_ENDPOINT"; return 1; }
	radosgw-admin -c "$conf" -n client.rgw user create --uid test --display-name test \
		--access-key "$RGW_ACCESS_KEY" --secret "$RGW_SECRET_KEY" >>"$RGW_DIR/setup.log" 2>&1 ||
		{ rgw_fail "radosgw-admin user create failed"; return 1; }
	rgw_wait 30 rgw_signed_ok || { rgw_fail "signed requests are not accepted"; return 1; }
	local code
	code=$(rgw_curl PUT "/$RGW_BUCKET")
	[ "$code" = 200 ] || { rgw_fail "bucket creation answered $code: $(cat "$RGW_DIR/curl.out")"; return 1; }
	rgw_log "up on $RGW_ENDPOINT (bucket $RGW_BUCKET)"
	return 0
}

# A start can fail for reasons outside the code under test (a port taken
# between the check and the bind): stop what was started and try again with
# fresh ports, up to three times.
rgw_start() {
	local attempt
	for attempt in 1 2 3; do
		rgw_start_once && return 0
		rgw_log "start attempt $attempt failed"
		rgw_stop_daemons
		[ -n "${RGW_DIR:-}" ] && [ -z "${RGW_KEEP:-}" ] && rm -rf "$RGW_DIR"
	done
	return 1
}

rgw_gateway_down() {
	local i entry
	for i in "${!RGW_PIDS[@]}"; do
		entry=${RGW_PIDS[$i]}
		[ "${entry%%:*}" = rgw ] || continue
		stop_pid "${entry#*:}"
		unset "RGW_PIDS[$i]"
	done
	RGW_PIDS=("${RGW_PIDS[@]}")
}

rgw_gateway_up() {
	radosgw -c "$RGW_DIR/ceph.conf" -f -n client.rgw >>"$RGW_DIR/rgw.out" 2>&1 &
	RGW_PIDS+=("rgw:$!")
	rgw_wait 60 rgw_signed_ok || { rgw_fail "radosgw did not come back on $RGW_ENDPOINT"; return 1; }
}

rgw_stop_daemons() {
	local i entry
	# in reverse order of starting: radosgw, osd, mon
	for ((i = ${#RGW_PIDS[@]} - 1; i >= 0; i--)); do
		entry=${RGW_PIDS[$i]}
		stop_pid "${entry#*:}"
	done
	RGW_PIDS=()
}

rgw_stop() {
	rgw_stop_daemons
	if [ -n "${RGW_DIR:-}" ] && [ -d "$RGW_DIR" ] && [ -z "${RGW_KEEP:-}" ]; then
		rm -rf "$RGW_DIR"
	fi
	if declare -F rgw_on_exit >/dev/null; then rgw_on_exit; fi
	return 0
}
