#!/usr/bin/env bash
# bench_objstore.sh - the object store benchmark: the file:// backend in a
# temp dir, then S3 against a RADOS Gateway started here (test/lib/rgw.sh)
# and stopped by PID afterwards.  Prints markdown tables.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/test/bench/bin/bench_objstore
[ -x "$BIN" ] || { echo "build it first: make test/bench/bin/bench_objstore" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/brainy-bench-objstore.XXXXXX") || exit 1
. "$ROOT/test/lib/rgw.sh"
rgw_on_exit() { rm -rf "$DIR"; }
trap 'rm -rf "$DIR"' EXIT

"$BIN" --file "$DIR" || exit 1
rm -rf "${DIR:?}"/*

rgw_start || exit 1
OBJSTORE_ACCESS_KEY_ID=$RGW_ACCESS_KEY OBJSTORE_SECRET_ACCESS_KEY=$RGW_SECRET_KEY \
	"$BIN" --s3 "$RGW_ENDPOINT" "$RGW_BUCKET"
