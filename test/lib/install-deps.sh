#!/usr/bin/env bash
# install-deps.sh - install what Brainy needs to build and test, then build
# and install the extension.  Used by test/all.sh and test/demo.sh; can also
# be run by itself: `bash test/lib/install-deps.sh`.
#
#   * as root: installs the Debian 12 packages below with apt-get, unless all
#     of them are installed already (checked with dpkg-query, so a rerun does
#     not touch apt at all);
#   * not root: checks the packages and, if some are missing, says what to
#     install and exits 1;
#   * then, from the repository root: `make -s COPT=-Werror` and
#     `make -s install` (the install needs write access to PostgreSQL's
#     system directories: root, or a user who can `sudo -n`).
#
# Exits non-zero if any step fails.  apt's output goes to a log file that is
# printed only on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Everything the build, the unit tests (gcc's ASan/UBSan runtimes libasan8
# and libubsan1 come with gcc), pg_regress and the demo need.  The Fashion-MNIST
# data set is for `make bench` only and is not installed here.
PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	libcurl4-openssl-dev
	libssl-dev
	libjson-c-dev
	libxxhash-dev
	make
	gcc
	libc6-dev
)

# The S3 server the object store tests run against (test/suites/objstore_s3.sh,
# test/lib/rgw.sh): Ceph's RADOS Gateway as a throwaway single-node cluster.
# Installed without recommends (they pull in systemd units and python tools
# the tests do not use).
S3_PACKAGES=(
	ceph-mon
	ceph-osd
	radosgw
	ceph-common
)

say() { echo "install-deps: $*"; }
die() { echo "install-deps: ERROR: $*" >&2; exit 1; }

missing_packages() {
	local p status
	for p in "${PACKAGES[@]}" "${S3_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || echo "$p"
	done
}

# --- packages -----------------------------------------------------------------

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script expects Debian 12 (bookworm)"

mapfile -t MISSING < <(missing_packages)
if [ ${#MISSING[@]} -eq 0 ]; then
	say "all $((${#PACKAGES[@]} + ${#S3_PACKAGES[@]})) packages are installed"
elif [ "$(id -u)" = 0 ]; then
	log=$(mktemp "${TMPDIR:-/tmp}/brainy-apt.XXXXXX.log")
	say "installing ${MISSING[*]} (apt log: $log)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get update >"$log" 2>&1; then
		cat "$log" >&2
		die "apt-get update failed"
	fi
	if ! apt-get install -y -q -o DPkg::Lock::Timeout=300 "${PACKAGES[@]}" >>"$log" 2>&1; then
		cat "$log" >&2
		die "apt-get install failed"
	fi
	if ! apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
			"${S3_PACKAGES[@]}" >>"$log" 2>&1; then
		cat "$log" >&2
		die "apt-get install of the S3 test server failed"
	fi
	mapfile -t MISSING < <(missing_packages)
	if [ ${#MISSING[@]} -ne 0 ]; then
		cat "$log" >&2
		die "still not installed after apt-get: ${MISSING[*]}"
	fi
	rm -f "$log"
	say "packages installed"
else
	{
		echo "install-deps: missing Debian packages: ${MISSING[*]}"
		echo "install-deps: install them as root with:"
		echo "    apt-get update && apt-get install -y ${PACKAGES[*]}"
		echo "    apt-get install -y --no-install-recommends ${S3_PACKAGES[*]}"
		echo "install-deps: or run this script as root."
	} >&2
	exit 1
fi

# --- build and install the extension ---------------------------------------------

# Use PostgreSQL 15's pg_config even if other versions' dev files are present.
if [ -z "${PG_CONFIG:-}" ] && [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
	export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi
PG_CONFIG=${PG_CONFIG:-pg_config}

cd "$ROOT"
say "building brainy (make -s COPT=-Werror)"
make -s COPT=-Werror || die "build failed"

pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
if [ "$(id -u)" = 0 ] || { [ -w "$pkglibdir" ] && [ -w "$extdir" ]; }; then
	make -s install || die "make install failed"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo -n make -s install PG_CONFIG="$PG_CONFIG" || die "sudo make install failed"
else
	die "cannot write to $pkglibdir and $extdir: run as root (or as a user who can sudo -n)"
fi
say "installed brainy into $pkglibdir and $extdir"
