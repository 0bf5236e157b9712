#!/bin/bash
# A worker that sent every result and then ended badly (a sanitizer's or valgrind's report
# shows only in its exit status) fails the run: exit 1, a message naming the worker, and the
# results kept in full.  exit_shim.so makes each worker end with status 7.  And a case that
# hangs (the shim's listen() never returns) is killed by the parent's watchdog: that case is
# an error saying so, the others are observed, and the run ends.
# usage: worker_exit_check.sh RUNNER SHIM
set -u
runner=$1 shim=$2
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
mkdir -p "$tmp/cases/two"
cat > "$tmp/cases/two/case.yaml" <<'YAML'
title: two quick binds
ref: runner/tests/worker_exit_check.sh
matrix: {n: [a, b, c, d]}
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: bind, socket: a, addr: loopback, port: P1}
YAML
# an ASan runner must come first among the libraries; the shim does not need to
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

# unshimmed: the same run passes (what the shim changes is the only difference)
timeout 60 "$runner" -q -j 2 -o "$tmp/ok.jsonl" "$tmp/cases" 2>"$tmp/ok.err"
rc=$?
[[ $rc == 0 ]] || fail plain "exit $rc: $(cat "$tmp/ok.err")"

# LD_PRELOAD splits at spaces, whatever the quoting: the shim by name, found in its folder
# (a checkout under "My Projects" would preload "My" and "Projects/...")
shim_dir=$(dirname "$shim") shim_name=$(basename "$shim")
for jobs in 1 2; do
    out=$tmp/bad$jobs.jsonl
    BM_SHIM_EXIT_STATUS=7 LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        LD_PRELOAD=$shim_name timeout 60 "$runner" -q -j $jobs -o "$out" \
        "$tmp/cases" 2>"$tmp/bad.err"
    rc=$?
    err=$(cat "$tmp/bad.err")
    [[ $rc == 1 ]] || fail "j$jobs" "exit $rc, not 1: $err"
    [[ $err == *"exited with status 7 after its last case"* ]] ||
        fail "j$jobs" "no message naming the worker's status: $err"
    # every case's result is there and observed: what failed came after them
    [[ -f $out ]] && [[ $(grep -c '"status":"observed"' "$out") == 4 ]] ||
        fail "j$jobs" "the results are not all there: $(cat "$out" 2>/dev/null | head -c 300)"
done
# a case that hangs: its worker is killed after --watchdog-ms, the case is an error naming
# the watchdog, the worker started in its place runs the rest
mkdir -p "$tmp/cases/hang"
cat > "$tmp/cases/hang/case.yaml" <<'YAML'
title: a listen that never returns (exit_shim.so)
ref: runner/tests/worker_exit_check.sh
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: bind, socket: a, addr: loopback, port: P1}
  - {op: listen, socket: a}
YAML
for jobs in 1 2; do
    out=$tmp/hang$jobs.jsonl
    start=$SECONDS
    BM_SHIM_HANG_LISTEN=1 LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        LD_PRELOAD=$shim_name timeout 60 "$runner" -q -j $jobs --watchdog-ms 300 -o "$out" \
        "$tmp/cases" 2>"$tmp/hang.err"
    rc=$?
    [[ $rc == 0 ]] || fail "hang j$jobs" "exit $rc: $(cat "$tmp/hang.err")"
    (( SECONDS - start < 30 )) || fail "hang j$jobs" "took $((SECONDS - start)) s"
    line=$(grep '"id":"hang"' "$out" 2>/dev/null)
    [[ $line == *'"status":"error"'* && $line == *"no result within the watchdog (300 ms)"* ]] ||
        fail "hang j$jobs" "the hung case is not an error naming the watchdog: $line"
    [[ $(grep -c '"status":"observed"' "$out") == 4 ]] ||
        fail "hang j$jobs" "the other cases are not all observed: $(head -c 600 "$out")"
done
# no watchdog shorter than the waits it is there to bound, or beyond reason
for bad in 99 3600001 x; do
    "$runner" --watchdog-ms $bad --list "$tmp/cases" >/dev/null 2>"$tmp/bad.err" &&
        fail "watchdog $bad" "accepted"
    grep -q -- "--watchdog-ms" "$tmp/bad.err" || fail "watchdog $bad" "$(cat "$tmp/bad.err")"
done
[[ $failures == 0 ]] && echo "worker_exit_check: all passed"
exit $((failures > 0))
