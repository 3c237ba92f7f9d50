#!/usr/bin/env bash
# fault_proxy.sh - the fault proxy program (test/unit/bin/fault_proxy, used
# by the replication suites and bench-repl) on its own: two proxies in a
# chain on 127.0.0.1, the far one answering every request 503 (a canned
# upstream), the near one injecting faults; requests made with curl.
#
# Cases: bad arguments exit 2 with a message naming the problem; the port
# file; forwarding; drop / 500 / lost-reply / delay counts; SIGUSR1 turns
# faults off and on; the stats file's counts by method and key class; the
# summary line at SIGTERM.  Everything stopped by PID.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else fail "$1"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }
contains() { [[ "$1" == *"$2"* ]]; }
same() { [ "$1" = "$2" ] || { echo "  expected: $2"; echo "  got:      $1"; return 1; }; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-faultproxy.XXXXXX") || exit 1
REPL_DIR=$WORK
. "$ROOT/test/lib/repl.sh"
trap 'repl_cleanup; rm -rf "$WORK"' EXIT
BIN=$REPL_PROXY_BIN
if [ ! -x "$BIN" ] && ! make -s -C "$ROOT" test/unit/bin/fault_proxy >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"; fail "fault_proxy builds"; summary; exit 1
fi

# --- bad arguments --------------------------------------------------------------

bad() {	# bad EXPECTED-MESSAGE ARGS...: exit status 2 and the message
	local want=$1 out rc; shift
	out=$("$BIN" "$@" 2>&1 </dev/null); rc=$?
	[ "$rc" = 2 ] && contains "$out" "$want" || { echo "  rc $rc: $out" | head -n 2; return 1; }
}
check "no arguments: --upstream-port is required" bad "--upstream-port is required"
check "no port file" bad "--port-file is required" --upstream-port 9
check "port 0" bad '"0" is not a number from 1 to 65535' --upstream-port 0 --port-file "$WORK/x"
check "port 70000" bad "is not a number from 1 to 65535" --upstream-port 70000 --port-file "$WORK/x"
check "port with trailing junk" bad '"9x" is not a number' --upstream-port 9x --port-file "$WORK/x"
check "option without value" bad "--seed needs a value" --upstream-port 9 --port-file "$WORK/x" --seed
check "per mille above 1000" bad "--drop" --upstream-port 9 --port-file "$WORK/x" --drop 1001
check "negative per mille" bad "--e500" --upstream-port 9 --port-file "$WORK/x" --e500 -1
check "faults adding up to more than 1000" bad "add up to more than 1000" --upstream-port 9 --port-file "$WORK/x" --drop 600 --e503 500
check "unknown option" bad 'unknown option "--bogus"' --upstream-port 9 --port-file "$WORK/x" --bogus 1
check "empty port file name" bad "--port-file needs a path" --upstream-port 9 --port-file ""
check "no port file written after bad arguments" [ ! -e "$WORK/x" ]
out=$("$BIN" --upstream-port 9 --port-file "$WORK/no/such/dir/port" 2>&1); rc=$?
check "an unwritable port file: exit 1 with the path ($out)" bash -c '[ "$1" = 1 ] && [[ "$2" == *"cannot write"*"no/such/dir/port"* ]]' _ "$rc" "$out"

# --- a chain: near (faults) -> far (503 for everything) ---------------------------

repl_proxy_start far 9 --e503 1000 || { fail "far proxy starts"; summary; exit 1; }
ok "far proxy listens on $REPL_PROXY_far_PORT"
port_ok() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ]; }
check "the port file holds a port" port_ok "$REPL_PROXY_far_PORT"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
out=$(code "http://127.0.0.1:$REPL_PROXY_far_PORT/b/k")
check "the far proxy answers 503 ($out)" [ "$out" = 503 ]

repl_proxy_start near "$REPL_PROXY_far_PORT" --drop 250 --e500 250 --lost-reply 250 --delay 250 --delay-ms 100 --seed 7 ||
	{ fail "near proxy starts"; summary; exit 1; }
declare -A seen
for i in $(seq 1 80); do
	c=$(code "http://127.0.0.1:$REPL_PROXY_near_PORT/b/_brainy/log/c/w/$i.seg")
	seen[$c]=$(( ${seen[$c]:-0} + 1 ))
done
echo "# 80 GETs through the near proxy: 503 (forwarded) ${seen[503]:-0}, 500 ${seen[500]:-0}, no reply ${seen[000]:-0}"
repl_proxy_snapshot near "$WORK/s1"
st() { repl_stat "$WORK/$1" "$2"; }
check "stats: 80 requests, all GET, all in the log class" same "$(st s1 requests) $(st s1 GET) $(st s1 log)" "80 80 80"
sum=$(( $(st s1 dropped) + $(st s1 e500) + $(st s1 lost_reply) + $(st s1 forwarded) ))
check "stats: every request is dropped, 500, lost reply or forwarded ($sum)" [ "$sum" = 80 ]
check "the 500s counted are the 500s received ($(st s1 e500))" [ "$(st s1 e500)" = "${seen[500]:-0}" ]
check "no reply = dropped + lost reply" [ "${seen[000]:-0}" = $(( $(st s1 dropped) + $(st s1 lost_reply) )) ]
check "forwarded requests got the far proxy's 503" [ "${seen[503]:-0}" = "$(st s1 forwarded)" ]
for k in dropped e500 lost_reply delayed; do
	v=$(st s1 $k)
	check "some $k at 25% ($v of 80)" [ "$v" -ge 5 ]
done
far_before=$(repl_proxy_stat far requests)
check "lost replies reached the upstream (far saw $far_before = forwarded + lost reply + the direct one)" \
	[ "$far_before" = $(( $(st s1 forwarded) + $(st s1 lost_reply) + 1 )) ]

# SIGUSR1: faults off
repl_proxy_toggle near
sleep 0.3
all503=1
for i in $(seq 1 20); do
	c=$(code -X PUT --data x "http://127.0.0.1:$REPL_PROXY_near_PORT/b/_brainy/instances/n$i.json")
	[ "$c" = 503 ] || all503=0
done
check "faults off: 20 PUTs all forwarded" [ $all503 = 1 ]
repl_proxy_snapshot near "$WORK/s2"
check "stats: faults_on 0, 20 PUTs in the instances class" same "$(st s2 faults_on) $(st s2 PUT) $(st s2 instances)" "0 20 20"
check "faults off: nothing new faulted" same "$(st s2 dropped) $(st s2 e500) $(st s2 lost_reply)" "$(st s1 dropped) $(st s1 e500) $(st s1 lost_reply)"
repl_proxy_toggle near
sleep 0.3
code "http://127.0.0.1:$REPL_PROXY_near_PORT/b/_brainy/config.json" >/dev/null
code "http://127.0.0.1:$REPL_PROXY_near_PORT/b?list-type=2&prefix=_brainy%2Fstats%2F" >/dev/null
code -X DELETE "http://127.0.0.1:$REPL_PROXY_near_PORT/b/_brainy/locks/x.json" >/dev/null
code -I "http://127.0.0.1:$REPL_PROXY_near_PORT/b/other" >/dev/null
repl_proxy_snapshot near "$WORK/s3"
check "SIGUSR1 again: faults on" [ "$(st s3 faults_on)" = 1 ]
check "key classes: config, a LIST of stats/ (encoded prefix), locks, other" \
	same "$(st s3 config) $(st s3 stats) $(st s3 locks) $(st s3 other_key)" "1 1 1 1"
check "methods: DELETE and HEAD" same "$(st s3 DELETE) $(st s3 HEAD)" "1 1"

near_pid=$REPL_PROXY_near_PID
kill -TERM "$near_pid"
for i in $(seq 1 50); do kill -0 "$near_pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$near_pid" 2>/dev/null; check_rc "SIGTERM stops it" $?
out=$(repl_proxy_stop near)
check "at exit: a summary line with the counts ($out)" contains "$out" "stopped; requests 104"
# --delay-reply: the request reaches the upstream at once, its reply is held
repl_proxy_start held "$REPL_PROXY_far_PORT" --delay 1000 --delay-ms 800 --delay-reply ||
	{ fail "proxy with --delay-reply starts"; summary; exit 1; }
far0=$(repl_proxy_stat far requests)
t0=$(date +%s%N)
code "http://127.0.0.1:$REPL_PROXY_held_PORT/b/k" >"$WORK/held.code" &
curl_pid=$!
sleep 0.4
far1=$(repl_proxy_stat far requests)
kill -0 "$curl_pid" 2>/dev/null; in_flight=$?
wait "$curl_pid"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$far1" = $((far0 + 1)) ] && [ "$in_flight" = 0 ]
check_rc "--delay-reply: the upstream had the request while the client still waited ($far0 -> $far1)" $?
[ "$ms" -ge 800 ] && [ "$(cat "$WORK/held.code")" = 503 ]; check_rc "--delay-reply: the reply came after 800 ms ($ms ms, $(cat "$WORK/held.code"))" $?
repl_proxy_snapshot held "$WORK/s4"
check "--delay-reply: counted as delayed" same "$(st s4 delayed) $(st s4 forwarded)" "1 1"
repl_proxy_stop held >/dev/null
repl_proxy_stop far >/dev/null
summary
[ "$FAILED" -eq 0 ]
