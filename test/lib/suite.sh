# suite.sh - pass/fail bookkeeping shared by the replication suites in
# test/suites (repl_*.sh).  Source it, then:
#   check DESCRIPTION COMMAND...   ok when COMMAND succeeds
#   check_rc DESCRIPTION RC        ok when RC is 0
#   ok / fail DESCRIPTION          count and print one line
#   contains HAYSTACK NEEDLE       true when NEEDLE is in HAYSTACK
#   summary                        prints `N passed, N failed` (the line
#                                  test/all.sh counts)
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
check_rc() { if [ "$2" = 0 ]; then ok "$1"; else fail "$1"; fi; }
summary() { echo "$PASSED passed, $FAILED failed"; }
contains() { [[ "$1" == *"$2"* ]]; }
