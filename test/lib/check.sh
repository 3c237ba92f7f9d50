# check.sh - pass/fail bookkeeping for the shell suites in test/suites.
#
# Source it, then:
#   check DESCRIPTION COMMAND...   passes when COMMAND succeeds; prints one
#                                  `ok - ...` or `not ok - ...` line
#   same GOT EXPECTED              succeeds when both are equal, else prints
#                                  both (for use as a check's COMMAND)
#   finish                         prints `N passed, N failed` (the line
#                                  test/all.sh counts) and exits, 0 only
#                                  when nothing failed
passed=0
failed=0
check() {	# check DESCRIPTION COMMAND...: passes when COMMAND succeeds
	local desc=$1; shift
	if "$@"; then
		passed=$((passed + 1)); echo "ok - $desc"
	else
		failed=$((failed + 1)); echo "not ok - $desc"
	fi
}
same() { [ "$1" = "$2" ] || { echo "  expected: $2"; echo "  got:      $1"; return 1; }; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
