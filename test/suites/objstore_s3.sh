#!/usr/bin/env bash
# objstore_s3.sh - the object store against a real S3 server: Ceph's RADOS
# Gateway started here on 127.0.0.1 (test/lib/rgw.sh) and stopped by PID
# at the end, also on failure.
#
#   1. the contract suite (test/unit/test_objstore_contract.c) with
#      path-style addressing, RGW's documented deviations allowed for, and
#      a pass through the fault-injecting proxy;
#   2. the basic part of it again with virtual-hosted-style addressing
#      (bucket.localhost:port, which libcurl resolves to loopback); and the
#      lease tests (test/unit/test_cluster_lease.c) against the gateway;
#   3. the SQL side on a PostgreSQL cluster configured for the bucket:
#      brainy.storage_check(), storage_list(), storage_get(), a wrong
#      secret (clear access-denied error), the AWS_* environment fallback;
#      and the server log must never contain the access key id or secret.
#
# Prints "N passed, N failed" at the end.
set -uo pipefail

ROOT=${BRAINY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
fi
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }

. "$ROOT/test/lib/rgw.sh"
. "$ROOT/test/lib/pgcluster.sh"
# one EXIT trap (pgcluster's) stops the clusters, then calls pgc_on_exit
pgc_on_exit() { rgw_stop; rm -rf "$WORK"; }
contains() { [[ "$1" == *"$2"* ]]; }

# counts of a test program's "N passed, N failed" line into the totals
run_counted() {
	local name=$1 log=$2; shift 2
	"$@" >"$log" 2>&1
	local rc=$? line
	grep -v '^ok - ' "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		fail "$name: ended without a summary (exit $rc)"
		return
	fi
	PASSED=$((PASSED + $(echo "$line" | awk '{print $1}')))
	FAILED=$((FAILED + $(echo "$line" | awk '{print $3}')))
	[ "$rc" -eq 0 ] || [ "$(echo "$line" | awk '{print $3}')" != 0 ] || fail "$name exited $rc"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-objs3.XXXXXX") || exit 1
chmod 755 "$WORK"

if ! rgw_start; then
	fail "RADOS Gateway starts"
	summary
	exit 1
fi
ok "RADOS Gateway started on $RGW_ENDPOINT"
trap pgc_stop_all EXIT

# --- 1 and 2: the contract ------------------------------------------------------

CONTRACT=$ROOT/test/unit/bin/test_objstore_contract
if [ ! -x "$CONTRACT" ]; then
	make -s -C "$ROOT" test/unit/bin/test_objstore_contract >/dev/null 2>&1 ||
		{ fail "build test_objstore_contract"; summary; exit 1; }
fi

echo "# contract, path-style, with the fault proxy"
run_counted "contract (path-style)" "$WORK/contract-path.log" \
	env OBJSTORE_URL="s3://$RGW_BUCKET/path" OBJSTORE_ENDPOINT="$RGW_ENDPOINT" \
	OBJSTORE_ACCESS_KEY_ID="$RGW_ACCESS_KEY" OBJSTORE_SECRET_ACCESS_KEY="$RGW_SECRET_KEY" \
	OBJSTORE_PATH_STYLE=1 OBJSTORE_DEVIATIONS=rgw OBJSTORE_FAULTS=1 "$CONTRACT"

echo "# contract (basic), virtual-hosted style"
run_counted "contract (virtual-hosted)" "$WORK/contract-vhost.log" \
	env OBJSTORE_URL="s3://$RGW_BUCKET/vhost" OBJSTORE_ENDPOINT="http://localhost:$RGW_PORT" \
	OBJSTORE_ACCESS_KEY_ID="$RGW_ACCESS_KEY" OBJSTORE_SECRET_ACCESS_KEY="$RGW_SECRET_KEY" \
	OBJSTORE_DEVIATIONS=rgw OBJSTORE_QUICK=1 "$CONTRACT"

echo "# leases (src/cluster/cluster_lease.c), path-style"
LEASE=$ROOT/test/unit/bin/test_cluster_lease
if [ ! -x "$LEASE" ]; then
	make -s -C "$ROOT" test/unit/bin/test_cluster_lease >/dev/null 2>&1 || fail "build test_cluster_lease"
fi
if [ -x "$LEASE" ]; then
	run_counted "leases" "$WORK/lease.log" \
		env OBJSTORE_URL="s3://$RGW_BUCKET/lease" OBJSTORE_ENDPOINT="$RGW_ENDPOINT" \
		OBJSTORE_ACCESS_KEY_ID="$RGW_ACCESS_KEY" OBJSTORE_SECRET_ACCESS_KEY="$RGW_SECRET_KEY" \
		OBJSTORE_PATH_STYLE=1 "$LEASE"
fi

# --- 3: the SQL side ----------------------------------------------------------------

# objects to look at, written with curl's own SigV4 (not our code)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT --data-binary 'hello from rgw' \
	--aws-sigv4 "aws:amz:us-east-1:s3" -u "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	"$RGW_ENDPOINT/$RGW_BUCKET/sql/dir/greeting.txt")
check "an object written by another client (curl)" [ "$code" = 200 ]

cd / || exit 1
if ! pgc_start s3 \
		"shared_preload_libraries = 'brainy'" \
		"brainy.storage = 's3://$RGW_BUCKET/sql'" \
		"brainy.s3_endpoint = '$RGW_ENDPOINT'" \
		"brainy.s3_force_path_style = on" \
		"brainy.s3_region = 'us-east-1'" \
		"brainy.s3_access_key_id = '$RGW_ACCESS_KEY'" \
		"brainy.s3_secret_access_key = '$RGW_SECRET_KEY'" \
		"log_min_messages = debug1" \
		"log_statement = 'all'" \
		"log_min_error_statement = debug1"; then
	fail "PostgreSQL cluster starts"
	summary
	exit 1
fi
sql() { pgc_psql s3 -d postgres -At "$@"; }
check "CREATE EXTENSION brainy" sql -c "CREATE EXTENSION brainy"
# on a shared machine another tree's `make install` can replace ours meanwhile
if [ "$(sql -c "SELECT to_regnamespace('brainy') IS NOT NULL" 2>/dev/null)" != t ]; then
	echo "# the installed brainy has no schema brainy: not this tree's build (replaced by another install?)"
fi

out=$(sql -c "SELECT string_agg(step || '=' || ok, ', ') FROM brainy.storage_check()" 2>&1)
echo "# storage_check: $out"
check "storage_check(): every step ok against RGW" \
	bash -c '[[ "$1" != *=false* && "$1" == *"deleted object is gone (404)=true"* ]]' _ "$out"
out=$(sql -c "SELECT key || ':' || size || ':' || length(etag) FROM brainy.storage_list('')" 2>&1)
check "storage_list() shows the object with size and ETag" [ "$out" = "dir/greeting.txt:14:32" ]
out=$(sql -c "SELECT key FROM brainy.storage_list('dir/g')" 2>&1)
check "storage_list(prefix)" [ "$out" = "dir/greeting.txt" ]
out=$(sql -c "SELECT convert_from(brainy.storage_get('dir/greeting.txt'), 'UTF8')" 2>&1)
check "storage_get() returns the bytes" [ "$out" = "hello from rgw" ]
out=$(sql -c "SELECT brainy.storage_get('dir/missing')" 2>&1)
check "storage_get() of a missing key: clear error" contains "$out" 'storage object "dir/missing" does not exist'
out=$(sql -c "SET brainy.s3_secret_access_key = 'wrong-secret-value'; SELECT * FROM brainy.storage_list('')" 2>&1)
echo "# wrong secret: $out"
check "a wrong secret: access denied" contains "$out" "access denied"
check "a wrong secret: the server's error code is shown" contains "$out" "SignatureDoesNotMatch"
# credentials from the environment when the settings are empty: PGOPTIONS
# cannot set the environment, so a second cluster is started with it
out=$(sql -c "SHOW brainy.s3_secret_access_key" 2>&1)
check "the superuser sees the secret setting" [ "$out" = "$RGW_SECRET_KEY" ]
sql -c "CREATE ROLE storage_reader LOGIN" >/dev/null
out=$(pgc_psql s3 -d postgres -At -U storage_reader -c "SELECT setting FROM pg_settings WHERE name = 'brainy.s3_secret_access_key'" 2>&1)
check "other roles do not see the secret in pg_settings" [ -z "$out" ]
out=$(pgc_psql s3 -d postgres -At -U storage_reader -c "SHOW brainy.s3_access_key_id" 2>&1)
check "other roles cannot SHOW the access key id" contains "$out" "must be superuser"
out=$(pgc_psql s3 -d postgres -At -U storage_reader -c "SELECT * FROM brainy.storage_list('')" 2>&1)
check "other roles cannot call storage_list()" contains "$out" "permission denied"

cp "$PGC_s3_DIR/server.log" "$WORK/s3-server.log"
pgc_stop s3 >/dev/null
# environment fallback: empty settings, AWS_* in the server's environment
if AWS_ACCESS_KEY_ID=$RGW_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RGW_SECRET_KEY AWS_REGION=us-east-1 \
		pgc_start env \
		"brainy.storage = 's3://$RGW_BUCKET/sql'" \
		"brainy.s3_endpoint = '$RGW_ENDPOINT'" \
		"brainy.s3_force_path_style = on"; then
	out=$(pgc_psql env -d postgres -At -c "CREATE EXTENSION brainy; SELECT key FROM brainy.storage_list('')" 2>&1)
	check "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY used when the settings are empty" [ "$out" = "dir/greeting.txt" ]
	cp "$PGC_env_DIR/server.log" "$WORK/env-server.log"
	logs_env=$WORK/env-server.log
else
	fail "PostgreSQL cluster with AWS_* environment starts"
	logs_env=
fi

# the server logs (debug1, every statement) never show a credential
leaks=0
for f in "$WORK/s3-server.log" $logs_env; do
	[ -f "$f" ] || continue
	if grep -F -e "$RGW_SECRET_KEY" -e "$RGW_ACCESS_KEY" "$f" >/dev/null; then
		leaks=1
		echo "# credential found in $f:"
		grep -n -F -e "$RGW_SECRET_KEY" -e "$RGW_ACCESS_KEY" "$f" | head -n 5
	fi
done
check "server logs contain neither the access key id nor the secret" [ "$leaks" = 0 ]
check "server logs are not empty (the grep looked at something)" test -s "$WORK/s3-server.log"
if grep -E "terminated by signal|PANIC:" "$WORK/s3-server.log" $logs_env >/dev/null; then
	fail "no crashed backend"
else
	ok "no crashed backend"
fi

summary
[ "$FAILED" -eq 0 ]
