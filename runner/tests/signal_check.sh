#!/bin/bash
# SIGINT, SIGTERM and SIGHUP stop a run cleanly (a SIGHUP ignored at the start, as nohup
# does, is left ignored), SIGKILL leaves nothing running, and two runs never
# share a results file.  The runner runs in a session of its own, so every process it starts
# (its workers) is found through /proc by that session id.
# usage: signal_check.sh RUNNER
set -u
runner=$1
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
capture=()
[[ $(id -u) == 0 ]] && capture=(--capture)   # each worker records its namespace itself

# two quick cases, then six accept()s that wait out the timeout (3 s: far longer than the
# test needs them): on two workers, each worker's first case is a quick one
mkdir -p "$tmp/cases/slow"
cat > "$tmp/cases/slow/case.yaml" <<'YAML'
title: accept waits for a connection that never comes
ref: runner/tests/signal_check.sh
capture: true
matrix: {n: [q1, q2, a, b, c, d, e, f]}
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: accept, socket: a, when: {n: [a, b, c, d, e, f]}}
YAML

# until CMD... succeeds, polling, for at most $1 seconds (1: it never did)
until_ok() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        (( SECONDS >= end )) && return 1
        sleep 0.05
    done
}

# whether every worker of runner $1 (it has $2) is in a slow case: each case takes
# microseconds but a slow one, whose accept() sleeps in poll(2) until the timeout; seen
# twice, 0.1 s apart.  A finished case's line may wait in its worker's batch, which the
# worker sends when it is stopped.
in_poll() {
    local w n=0
    for w in $(cat /proc/"$1"/task/"$1"/children 2>/dev/null); do
        [[ $(cat /proc/"$w"/wchan 2>/dev/null) == *poll* ]] || return 1
        n=$((n + 1))
    done
    [[ $n == "$2" ]]
}
in_slow_case() { in_poll "$1" "$2" && sleep 0.1 && in_poll "$1" "$2"; }

# processes of session $1: the live ones, or with "all" zombies too (what a stopped run
# must not leave even for an instant: init would adopt it; a worker reaps its own first)
in_session() {
    local n=0 f
    for f in /proc/[0-9]*/stat; do
        read -r -a st < "$f" 2>/dev/null || continue
        # fields after "(comm)": state is the 3rd, session the 6th (comm has no spaces here)
        [[ ${st[5]} == "$1" && ( ${2:-} == all || ${st[2]} != Z ) ]] && n=$((n + 1))
    done
    echo $n
}
alive() { in_session "$1"; }
none_alive() { [[ $(alive "$1") == 0 ]]; }

# start_run [IGNORED]: the runner in its own session on $tmp/r.jsonl, started with the
# signal IGNORED ignored (as nohup ignores HUP) if given; sets pid
start_run() {
    setsid bash -c '[[ -z $1 ]] || trap "" "$1"; shift; exec "$@"' - "${1:-}" \
        "$runner" -q "${capture[@]}" -j 2 --timeout-ms 3000 --manifest-out "$tmp/m.json" \
        -o "$tmp/r.jsonl" "$tmp/cases" 2>"$tmp/stderr" &
    pid=$!
}

# after the signals SIGS (in turn), the run exits WANT, nothing of its session lives, the
# complete results are untouched and the finished cases are in r.interrupted.jsonl, marked
# by the last of SIGS; the runner starts with IGNORED ignored
# usage: check_stop SIGS WANT [IGNORED]
check_stop() {
    local sigs=$1 want=$2 sig=${1##* } rc left lines cases s
    echo old > "$tmp/r.jsonl"
    rm -rf "$tmp/r.interrupted.jsonl" "$tmp/r.interrupted.evidence" "$tmp/r.evidence"
    mkdir "$tmp/r.evidence" && echo old > "$tmp/r.evidence/old.pcap"   # the complete run's
    # the run before's, whose files this run rewrites: what it does not rewrite must go
    mkdir -p "$tmp/r.evidence.spare" && echo stale > "$tmp/r.evidence.spare/stale.pcap"
    start_run "${3:-}"
    until_ok 20 in_slow_case "$pid" 2 || fail "$sig" "the workers never reached a slow case"
    for s in $sigs; do kill -"$s" "$pid"; done
    wait "$pid"
    rc=$?
    [[ $rc == "$want" ]] || fail "$sig" "exit status $rc, not $want: $(cat "$tmp/stderr")"
    until_ok 5 none_alive "$pid"
    left=$(alive "$pid")
    [[ $left == 0 ]] || fail "$sig" "$left processes of the run still alive"
    [[ $(cat "$tmp/r.jsonl") == old ]] || fail "$sig" "the complete results were replaced"
    [[ $(ls "$tmp/r.evidence") == old.pcap && $(cat "$tmp/r.evidence/old.pcap") == old ]] ||
        fail "$sig" "the complete run's evidence was changed: $(ls "$tmp/r.evidence")"
    [[ -z $(find "$tmp" -name '*.pcap' ! -path '*/r.evidence/*' ! -path '*/r.interrupted.evidence/*') ]] ||
        fail "$sig" "captures left outside the evidence folders"
    # the finished quick cases' evidence is beside their results, where their lines say
    if [[ ${#capture[@]} -gt 0 ]]; then
        paths=$(grep -o '"path":"[^"]*"' "$tmp/r.interrupted.jsonl" | sed 's/"path":"//; s/"$//')
        [[ -n $paths ]] || fail "$sig" "no evidence in the interrupted results"
        for p in $paths; do
            [[ $p == r.interrupted.evidence/* && -s $tmp/$p ]] || fail "$sig" "evidence $p is not there"
        done
        [[ $(ls "$tmp/r.interrupted.evidence" | sort) == $(for p in $paths; do basename "$p"; done | sort) ]] ||
            fail "$sig" "the interrupted evidence holds pcaps no line names: $(ls "$tmp/r.interrupted.evidence")"
    fi
    head -1 "$tmp/r.interrupted.jsonl" 2>/dev/null | grep -q "\"partial\":true,\"interrupted\":\"SIG$sig\"" ||
        fail "$sig" "run record not marked interrupted by $sig"
    lines=$(grep -c '"record":"case"' "$tmp/r.interrupted.jsonl" 2>/dev/null)
    cases=$(tail -1 "$tmp/r.interrupted.jsonl" 2>/dev/null | sed -n 's/.*"record":"end","cases":\([0-9]*\).*/\1/p')
    [[ ${lines:-0} -ge 1 && ${lines:-0} == "$cases" ]] ||
        fail "$sig" "${lines:-0} case lines, end record says ${cases:-nothing}"
}
check_stop TERM 143
check_stop INT 130
check_stop HUP 129
# nohup: the hangup is left ignored (had it been caught, it would have stopped the run)
check_stop "HUP TERM" 143 HUP

# stopped after its captured cases, each worker has handed its capture to a child (the
# closer, capture.c) and waits in an uncaptured accept(): the moment the runner has exited,
# nothing of its session is left, not even the closers' zombies
if [[ ${#capture[@]} -gt 0 ]]; then
    mkdir -p "$tmp/reap/cap" "$tmp/reap/slow"
    printf '%s\n' 'title: captured quick cases' 'ref: runner/tests/signal_check.sh' \
        'capture: true' 'matrix: {n: [a, b, c, d]}' 'sockets: {a: {proto: udp, family: ipv4}}' \
        'steps: [{op: bind, socket: a, addr: loopback, port: P1}]' > "$tmp/reap/cap/case.yaml"
    sed '/^capture: true/d' "$tmp/cases/slow/case.yaml" > "$tmp/reap/slow/case.yaml"
    for sig in TERM INT HUP; do
        setsid "$runner" -q --capture -j 2 --timeout-ms 3000 -o "$tmp/reap.jsonl" "$tmp/reap" \
            2>"$tmp/stderr" &
        pid=$!
        until_ok 20 in_slow_case "$pid" 2 || fail "reap $sig" "the workers never reached a slow case"
        kill -"$sig" "$pid"
        wait "$pid"
        left=$(in_session "$pid" all)
        [[ $left == 0 ]] || fail "reap $sig" "$left processes of the run (zombies too) outlived it"
        until_ok 5 none_alive "$pid"
    done
fi

# SIGKILL: the workers, and their captures with them, die with it (PR_SET_PDEATHSIG)
start_run
until_ok 20 in_slow_case "$pid" 2 || fail KILL "the workers never reached a slow case"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
until_ok 5 none_alive "$pid"
left=$(alive "$pid")
[[ $left == 0 ]] || fail KILL "$left processes of the run still alive"
# nothing half-written beside the outputs: the manifest and the results are written from
# unlinked files, renamed into place only at the end
litter=$(find "$tmp" -maxdepth 1 -name '*.tmp.*' | wc -l)   # atomic.c's temporary names
[[ $litter == 0 ]] || fail KILL "$litter temporary files left beside the outputs"

# a second run on the same results file waits, then refuses
if command -v flock >/dev/null; then
    # this shell holds the lock itself: no process to leave behind
    exec {held}>"$tmp/r.jsonl.lock"
    flock "$held"
    start=$SECONDS
    "$runner" -q --lock-wait-ms 300 -o "$tmp/r.jsonl" "$tmp/cases" 2>"$tmp/stderr"
    rc=$?
    [[ $rc == 2 ]] || fail lock "exit status $rc, not 2"
    grep -q "another run holds $tmp/r.jsonl.lock" "$tmp/stderr" || fail lock "$(cat "$tmp/stderr")"
    (( SECONDS - start <= 3 )) || fail lock "waited $((SECONDS - start)) s, not 0.3"
    exec {held}>&-
fi
# crash_run NAME JOBS "QUICK..." "SLOW...": the quick cases, then the slow ones (an accept
# that waits out the timeout), on JOBS workers; once every worker is in a slow case, the
# first worker is killed.  The results are in $tmp/NAME.jsonl.
crash_run() {
    local name=$1 jobs=$2 quick=$3 slow=$4 pid worker
    mkdir -p "$tmp/$name/c"
    cat > "$tmp/$name/c/case.yaml" <<YAML
title: quick cases, then some that wait
ref: runner/tests/signal_check.sh
matrix: {n: [${quick// /, }, ${slow// /, }]}
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: accept, socket: a, when: {n: [${slow// /, }]}}
YAML
    "$runner" -q -j "$jobs" --timeout-ms 3000 -o "$tmp/$name.jsonl" "$tmp/$name" &
    pid=$!
    until_ok 20 in_slow_case "$pid" "$jobs" || fail "$name" "the workers never reached the slow cases"
    worker=$(cat /proc/$pid/task/$pid/children 2>/dev/null | awk '{print $1}')
    [[ -n $worker ]] && kill -KILL "$worker"
    wait "$pid"
}
statuses() { grep -o '"id":"[^"]*".*"status":"[a-z]*"' "$1" | cut -c1-80; }
died='"status":"error","reason":"the runner.s worker died on signal 9'

# one worker: the case it was killed in is the error, not one whose line was still in its
# unsent batch (those run again)
crash_run crash 1 "q1 q2 q3 q4 q5" "slow"
grep -q "\"id\":\"c\[n=slow\]\".*$died" "$tmp/crash.jsonl" ||
    fail crash "the slow case is not the one blamed: $(statuses "$tmp/crash.jsonl")"
[[ $(grep -c '"status":"observed"' "$tmp/crash.jsonl") == 5 ]] || fail crash "the five quick cases are not observed"

# two workers taking cases from one counter: the killed one's slow case is the error; the
# other's slow case and every quick one are observed
crash_run crash2 2 "q1 q2 q3 q4 q5 q6 q7 q8" "slow1 slow2"
[[ $(grep -c "$died" "$tmp/crash2.jsonl") == 1 && $(grep -c '"status":"observed"' "$tmp/crash2.jsonl") == 9 ]] ||
    fail crash2 "not one error and nine observed: $(statuses "$tmp/crash2.jsonl")"

# a run that ends as it should leaves nothing running either: with --capture, a worker hands
# its capture to a child (the closer) once its capture cases are done, and waits for it
if [[ ${#capture[@]} -gt 0 ]]; then
    mkdir -p "$tmp/closer/cap" "$tmp/closer/plain"
    printf '%s\n' 'title: captured' 'ref: runner/tests/signal_check.sh' 'capture: true' \
        'matrix: {n: [a, b, c, d]}' 'sockets: {a: {proto: udp, family: ipv4}}' \
        'steps: [{op: bind, socket: a, addr: loopback, port: P1}]' > "$tmp/closer/cap/case.yaml"
    sed '/capture: true/d; s/captured/not captured/' "$tmp/closer/cap/case.yaml" > "$tmp/closer/plain/case.yaml"
    setsid "$runner" -q --capture -j 2 -o "$tmp/closer.jsonl" "$tmp/closer" 2>"$tmp/stderr" &
    pid=$!
    wait "$pid" || fail closer "exit status $?: $(cat "$tmp/stderr")"
    left=$(alive "$pid")
    [[ $left == 0 ]] || fail closer "$left processes of the run still alive after it ended"
    [[ $(grep -c '"status":"observed"' "$tmp/closer.jsonl") == 8 &&
       $(grep -c '"evidence"' "$tmp/closer.jsonl") == 4 ]] ||
        fail closer "not 8 cases observed, 4 with evidence: $(statuses "$tmp/closer.jsonl")"
fi

echo "signal_check: $failures failed"
[[ $failures == 0 ]]
