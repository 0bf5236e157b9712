#!/bin/bash
# The delivery cases hold many descriptors at once (a TCP probe's connections, beside the
# sockets a worker keeps for its namespace): they run under a small descriptor limit too.
# With room under the hard limit the runner raises its soft limit; with none (hard 256, as
# macOS's soft default) it keeps no sockets and still runs every case.  One worker, so that
# it has run the UDP probes (and kept their senders) when the TCP ones come.  And a runner
# started with its standard descriptors closed writes its messages into none of its files.
# usage: fd_limit_check.sh RUNNER CASES
set -u
runner=$1 cases=$2
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
failures=0
# the second trial's hard limit: 8192, or this shell's own where it is lower (only root raises it)
room=$(ulimit -Hn)
[[ $room == unlimited || $room -gt 8192 ]] && room=8192
filters=(-f udp/three-sockets -f udp/reuseport-spread -f dualstack/reuseport-delivery
         -f tcp/reuseport-spread)
for limits in "256 256" "256 $room"; do
    read -r soft hard <<<"$limits"
    out="$tmp/r-$soft-$hard.jsonl"
    msg=$( (ulimit -Sn "$soft" && ulimit -Hn "$hard" && \
            exec "$runner" -j 1 "${filters[@]}" -o "$out" "$cases") 2>&1 )
    rc=$?
    summary=$(tail -n 1 <<<"$msg")
    if [[ $rc != 0 || $summary != *" 0 error)"* || $summary == *"(0 observed"* ]]; then
        echo "FAIL soft $soft, hard $hard: exit $rc: $summary"
        grep -o '"reason":"[^"]*"' "$out" 2>/dev/null | sort | uniq -c
        failures=$((failures + 1))
    else
        echo "ok   soft $soft, hard $hard: $summary"
    fi
done
# a thousand connections at once (the most a deliver step takes) need the raised limit
mkdir -p "$tmp/cases/many"
cat > "$tmp/cases/many/case.yaml" <<'YAML'
title: a thousand connections held at once
ref: runner/tests/fd_limit_check.sh
sockets: {a: {proto: tcp, family: ipv4}}
steps:
  - {op: state, socket: a, state: listening, addr: loopback, port: P1}
  - {op: deliver, addr: loopback, port: P1, count: 1000, receivers: [a]}
YAML
out="$tmp/many.jsonl"
msg=$( (ulimit -Sn 256 && ulimit -Hn "$room" && exec "$runner" -j 1 -o "$out" "$tmp/cases") 2>&1 )
rc=$?
if (( room < 2100 )); then
    echo "FAIL 1000 connections need a hard limit of 2100 descriptors; this shell's is $room"
    failures=$((failures + 1))
elif [[ $rc != 0 ]] || ! grep -q '"received":{"a":1000}' "$out"; then
    echo "FAIL 1000 connections under soft 256, hard $room: $(tail -n 1 <<<"$msg")"
    grep -o '"reason":"[^"]*"' "$out" 2>/dev/null
    failures=$((failures + 1))
else
    echo "ok   1000 connections under soft 256, hard $room"
fi
# standard descriptors closed by whoever starts it (a daemon, `>&- 2>&-`): the next file the
# runner opened took each number, and its closing line went into the results' lock file
for closed in "2" "1 2" "0 1 2"; do
    dir="$tmp/closed-${closed// /}"
    mkdir -p "$dir"
    shut=()
    for fd in $closed; do shut+=("$fd>&-"); done
    eval '"$runner" -f tcp/second-listener -o "$dir/r.jsonl" --manifest-out "$dir/m.json" \
        "$cases"' "${shut[*]}"
    rc=$?
    said=$(grep -rl "bindmatrix-runner" "$dir" 2>/dev/null | tr '\n' ' ')
    if [[ $rc != 0 || -n $said ]] || ! grep -q '"record":"end"' "$dir/r.jsonl"; then
        echo "FAIL descriptors $closed closed: exit $rc; its messages went into: ${said:-none}"
        failures=$((failures + 1))
    else
        echo "ok   descriptors $closed closed: exit 0, its files hold none of its messages"
    fi
done
exit $((failures > 0))
