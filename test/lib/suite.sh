# suite.sh - pass/fail bookkeeping shared by the replication suites in
# test/suites (repl_*.sh).  Source it (it also puts PostgreSQL 15's bin
# first on PATH), then:
#   check DESCRIPTION COMMAND...   ok when COMMAND succeeds
#   check_rc DESCRIPTION RC        ok when RC is 0
#   ok / fail DESCRIPTION          count and print one line
#   contains HAYSTACK NEEDLE       true when NEEDLE is in HAYSTACK
#   same GOT EXPECTED              true when equal, else prints both
#   suite_seed                     SEED (REPL_SEED, else from the clock)
#                                  seeds RANDOM and is printed
#   summary                        prints `N passed, N failed` (the line
#                                  test/all.sh counts)
if [ -d /usr/lib/postgresql/15/bin ]; then
	export PATH=/usr/lib/postgresql/15/bin:$PATH
fi
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else fail "$1"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }
contains() { [[ "$1" == *"$2"* ]]; }
same() { [ "$1" = "$2" ] || { echo "  expected: $2"; echo "  got:      $1"; return 1; }; }
suite_seed() {
	SEED=${REPL_SEED:-$(( $(date +%s) % 100000 ))}
	RANDOM=$SEED
	echo "# seed $SEED (REPL_SEED=$SEED to repeat)"
}
