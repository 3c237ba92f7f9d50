#!/usr/bin/env bash
# all.sh - every test Brainy has; what CI runs (via .ci/run) and what the
# README's test command is.  Run it from anywhere, as root on Debian 12 or as
# a user who has the packages installed (see test/lib/install-deps.sh).
#
# Stages:
#   setup     install the Debian packages if needed, build with -Werror and
#             install the extension (test/lib/install-deps.sh)
#   unit      `make unittest`: plain-C tests under ASan/UBSan; each program
#             ends with "N passed, N failed"
#   regress   pg_regress (`make installcheck`) against a throwaway cluster on
#             127.0.0.1 (test/lib/pgcluster.sh), one count per test
#   suites    every executable test/suites/*.sh; each prints its own
#             "N passed, N failed" line (see test/suites/README.md)
#
# Ends with the totals alone on a line, "N passed, N failed", and exits 1 if
# anything failed.  A stage that cannot run at all (build failure, cluster
# that does not start, a suite that crashes before its summary) counts as a
# failure, never as zero tests.
#
# Environment:
#   BRAINY_SUITE_TIMEOUT=1200   seconds one test/suites/*.sh may take
#   PGC_KEEP=1                  keep the cluster directories (pgcluster.sh)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export BRAINY_ROOT=$ROOT

# PostgreSQL 15's programs (pg_config, psql, initdb) first.
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
	export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/brainy-all.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()		# one line per stage, printed at the end

# record STAGE PASSED FAILED [NOTE]
record() {
	local stage=$1 p=$2 f=$3 note=${4:-}
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f))
	SUMMARY+=("$(printf '  %-28s %5d passed, %3d failed%s' "$stage" "$p" "$f" "${note:+  ($note)}")")
}

banner() {
	echo
	echo "=================================================================="
	echo "== $*"
	echo "=================================================================="
}

# The last "N passed, N failed" line of a file, as "N N" (empty if none).
last_summary() {
	sed -nE 's/^([A-Za-z_-]+: *)?([0-9]+) passed, ([0-9]+) failed.*$/\2 \3/p' "$1" | tail -n 1
}

# --- setup ----------------------------------------------------------------------

stage_setup() {
	banner "setup: packages, build (-Werror), install"
	if bash "$ROOT/test/lib/install-deps.sh"; then
		SUMMARY+=("$(printf '  %-28s ok (not counted as a test)' setup)")
		return 0
	fi
	record setup 0 1 "install-deps.sh failed"
	return 1
}

# --- unit -----------------------------------------------------------------------

stage_unit() {
	banner "unit: make unittest (ASan + UBSan)"
	local log=$WORK/unit.log rc counts p f
	# The programs' "ok - ..." lines go to the log only; everything else
	# (failures, skips, sanitizer reports, summaries) is shown.
	make unittest >"$log" 2>&1
	rc=$?
	grep -v '^ok - ' "$log"
	# Per program ("== path" header): its "N passed, N failed" line, or one
	# failure if it stopped before printing one (crash, sanitizer abort).
	counts=$(awk '
		function close_prog() {
			if (prog != "" && !seen) { f++; print "unit: " prog " ended without a summary line" > "/dev/stderr" }
		}
		/^== / { close_prog(); prog = substr($0, 4); seen = 0; n++; next }
		/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3; seen = 1; next }
		END { close_prog(); printf "%d %d %d\n", p, f, n }
	' "$log")
	read -r p f n <<<"$counts"
	if [ "$n" -eq 0 ]; then
		record unit "$p" $((f + 1)) "no unit test program ran (make exit $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# e.g. a leak report after the summary, or a build error
		record unit "$p" 1 "make unittest exited $rc"
	else
		record unit "$p" "$f" "$n programs"
	fi
}

# --- regress ------------------------------------------------------------------

# In a subshell, so that pgcluster.sh's EXIT trap stops the cluster however
# the stage ends.  Writes "PASSED FAILED NOTE" to $WORK/regress.counts.
regress_run() (
	. "$ROOT/test/lib/pgcluster.sh"
	out=$WORK/regress.counts
	# initdb and pg_ctl run as postgres when we are root: start them from a
	# directory that user can enter (the tree may be under /root, mode 700).
	cd / || exit 1
	if ! pgc_start regress; then
		echo "0 1 cluster did not start" >"$out"
		exit 1
	fi
	cd "$ROOT" || exit 1
	port=$PGC_regress_PORT
	echo "regress: cluster on 127.0.0.1:$port"
	log=$WORK/regress.log
	PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres \
		make installcheck PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres \
		2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# PG15:  "test NAME ... ok   12 ms", "     NAME ... FAILED   3 ms" (in a
	#        parallel group), "... failed (ignored)";
	# PG16+: "ok 1   - NAME   12 ms", "not ok 2 - NAME ...".
	read -r p f <<<"$(awk '
		/^(test +)?[ \t]*[^ \t]+ +\.\.\. +ok( |$)/            { p++; next }
		/^(test +)?[ \t]*[^ \t]+ +\.\.\. +failed \(ignored\)/ { p++; next }
		/^(test +)?[ \t]*[^ \t]+ +\.\.\. +FAILED/             { f++; next }
		/^ok [0-9]+ +[-+] /                                    { p++; next }
		/^not ok [0-9]+ +[-+] /                                { f++; next }
		END { printf "%d %d\n", p, f }
	' "$log")"
	note=""
	if [ -s regression.diffs ] && [ "$rc" -ne 0 ]; then
		echo
		echo "---------------- regression.diffs (first 400 lines) ----------------"
		head -n 400 regression.diffs
		echo "---------------- end of regression.diffs ($(wc -l <regression.diffs) lines; full file: $ROOT/regression.diffs)"
	fi
	# a backend that crashed fails the stage even if its test "passed"
	if grep -E "terminated by signal|exited with exit code|PANIC:" \
			"$PGC_regress_DIR/server.log" >"$WORK/regress.crashes"; then
		echo "regress: the server log shows a crashed backend:"
		cat "$WORK/regress.crashes"
		f=$((f + 1))
	fi
	if [ $((p + f)) -eq 0 ]; then
		f=1; note="no regress test ran (make exit $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; note="make installcheck exited $rc"
	else
		note="$((p + f)) tests"
	fi
	pgc_stop regress
	echo "$p $f $note" >"$out"
)

stage_regress() {
	banner "regress: pg_regress (make installcheck) on a throwaway cluster"
	rm -f "$WORK/regress.counts"
	regress_run
	local p f note
	if [ -s "$WORK/regress.counts" ]; then
		read -r p f note <"$WORK/regress.counts"
		record regress "$p" "$f" "$note"
	else
		record regress 0 1 "regress stage aborted"
	fi
}

# --- suites -------------------------------------------------------------------

stage_suites() {
	local dir=$ROOT/test/suites s name log rc counts p f n=0
	local timeout_s=${BRAINY_SUITE_TIMEOUT:-1200}
	[ -d "$dir" ] || return 0
	for s in "$dir"/*.sh; do
		[ -e "$s" ] || continue
		name=suite:$(basename "$s" .sh)
		if [ ! -x "$s" ]; then
			echo "suites: $s is not executable; skipped (chmod +x it to run it)"
			continue
		fi
		n=$((n + 1))
		banner "$name ($s)"
		log=$WORK/$(basename "$s").log
		timeout -k 60 "$timeout_s" "$s" </dev/null 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		counts=$(last_summary "$log")
		if [ -z "$counts" ]; then
			record "$name" 0 1 "no 'N passed, N failed' line, exit $rc"
			continue
		fi
		read -r p f <<<"$counts"
		if [ "$rc" -eq 124 ]; then
			record "$name" "$p" $((f + 1)) "timed out after ${timeout_s}s"
		elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			record "$name" "$p" 1 "exited $rc"
		else
			record "$name" "$p" "$f"
		fi
	done
	[ "$n" -gt 0 ] || echo "suites: no executable test/suites/*.sh"
}

# --- run -------------------------------------------------------------------------

if stage_setup; then
	stage_unit
	stage_regress
	stage_suites
else
	# Without a fresh build and install, testing would be meaningless (or
	# would test a stale installed brainy.so).
	echo "all: setup failed; unit, regress and suites not run" >&2
fi

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
