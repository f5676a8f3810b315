#!/usr/bin/env bash
# Runs the unit tests (Check) and the end-to-end tests (pytest) and ends with one
# summary line, "N passed, N failed". Usage: run-all.sh [unit|e2e]  (default both)
set -u
BUILD=${BUILD:-build}
what=${1:-all}
passed=0
failed=0
failed_names=()
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/ipcrig-tests.XXXXXX")
trap 'rm -rf "$log_dir"' EXIT

run_unit() {
    local t name out checks failures errors
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        out="$log_dir/$name.log"
        printf '  %-24s ' "$name"
        timeout 300 "$t" >"$out" 2>&1
        local rc=$?
        # Check prints: "NN%: Checks: C, Failures: F, Errors: E"
        read -r checks failures errors < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$out" | tail -1)
        checks=${checks:-0}; failures=${failures:-0}; errors=${errors:-0}
        if [ "$checks" -eq 0 ] || [ $rc -ne 0 ] && [ $((failures + errors)) -eq 0 ]; then
            # The binary died, timed out or ran nothing: count it as one failure.
            failures=$((failures + 1))
        fi
        passed=$((passed + checks - failures - errors))
        [ $((passed)) -ge 0 ] || passed=0
        failed=$((failed + failures + errors))
        if [ $((failures + errors)) -eq 0 ]; then
            echo "ok ($checks checks)"
        else
            echo "FAILED ($failures failures, $errors errors, exit $rc)"
            failed_names+=("$name")
            grep -E ':[EF]:|Checks:' "$out" | head -40 | sed 's/^/      /'
        fi
    done
}

run_e2e() {
    [ -n "$(ls tests/e2e/test_*.py 2>/dev/null)" ] || return 0
    local out="$log_dir/pytest.log"
    IPCRIG_BUILD="$BUILD" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e >"$out" 2>&1
    local rc=$?
    local p f
    p=$(grep -oE '[0-9]+ passed' "$out" | tail -1 | grep -oE '[0-9]+'); p=${p:-0}
    f=$(grep -oE '[0-9]+ (failed|error)' "$out" | awk '{s+=$1} END {print s+0}')
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -eq 0 ]; then
        echo "  pytest (tests/e2e)        ok ($p tests)"
    else
        echo "  pytest (tests/e2e)        FAILED"
        failed_names+=("pytest")
        tail -60 "$out" | sed 's/^/      /'
    fi
}

case "$what" in
    unit) echo "unit tests:"; run_unit ;;
    e2e) echo "end-to-end tests:"; run_e2e ;;
    *) echo "unit tests:"; run_unit; echo "end-to-end tests:"; run_e2e ;;
esac

echo
[ ${#failed_names[@]} -eq 0 ] || echo "failing: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
