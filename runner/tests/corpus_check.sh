#!/bin/bash
# Every bad case file must be refused the same way: exit status 2, one message naming the
# file, the line and the field (the "# expect:" fragment on its first line), no sanitizer
# report, within a time and memory bound.  Inputs too big or too odd to keep in git (deep
# nesting, a 1 MiB file, a FIFO, a device, symlink loops, a run over the case limit) are made
# here in a temporary folder.
# usage: corpus_check.sh RUNNER CORPUS_DIR
set -u
runner=$1 corpus=$2
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
failures=0 checked=0
max_seconds=10 max_kib=$((1024 * 1024))
base='ref: r
sockets: {a: {proto: tcp, family: ipv4}}
steps: [{op: bind, socket: a, addr: loopback, port: P1}]'

fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# expect_refusal NAME FRAGMENT PATH...: the runner lists PATH and must refuse it.
expect_refusal() {
    local name=$1 fragment=$2 out rc rss
    shift 2
    out=$( { /usr/bin/time -f '%M' -o "$tmp/rss" timeout "$max_seconds" "$runner" --list "$@" >/dev/null; } 2>&1)
    rc=$?
    rss=$(tail -1 "$tmp/rss" 2>/dev/null)
    checked=$((checked + 1))
    case $rc in
        2) ;;
        124) fail "$name" "took more than $max_seconds s"; return ;;
        *) fail "$name" "exit status $rc, not 2: $out"; return ;;
    esac
    [[ $out == *"$fragment"* ]] || fail "$name" "no '$fragment' in: $out"
    [[ $out == *AddressSanitizer* || $out == *"runtime error"* ]] && fail "$name" "sanitizer: $out"
    [[ $rss =~ ^[0-9]+$ && $rss -le $max_kib ]] || fail "$name" "peak RSS ${rss:-?} KiB over $max_kib"
}

# expect_run_refusal NAME FRAGMENT PATH...: a run, with --manifest-out as ./bindmatrix run
# gives it, must refuse PATH as --list does, and leave nothing in its output folder: no
# results, no manifest, no evidence, no lock file.  (A run's manifest pass checks the cases
# while its workers run, in their private namespaces: main.c, chosen.unchecked.)
expect_run_refusal() {
    local name=$1 fragment=$2 out rc
    shift 2
    rm -rf "$tmp/out" && mkdir "$tmp/out"
    out=$(timeout "$max_seconds" "$runner" -q --capture -o "$tmp/out/r.jsonl" \
          --manifest-out "$tmp/out/m.json" "$@" 2>&1)
    rc=$?
    checked=$((checked + 1))
    [[ $rc == 2 ]] || { fail "run $name" "exit status $rc, not 2: $out"; return; }
    [[ $out == *"$fragment"* ]] || fail "run $name" "no '$fragment' in: $out"
    [[ -z $(ls -A "$tmp/out") ]] || fail "run $name" "left $(ls -A "$tmp/out")"
}

for f in "$corpus"/*.yaml; do
    fragment=$(sed -n '1s/^# expect: //p' "$f")
    [[ -n $fragment ]] || { fail "$f" "no '# expect: ' first line"; continue; }
    expect_refusal "$f" "$f$fragment" "$f"
    expect_run_refusal "$f" "$f$fragment" "$f"
done


mkcase() { mkdir -p "$tmp/$1" && printf '%s\n' "$2" > "$tmp/$1/case.yaml"; }
# 100,000 levels took libyaml's loader 40 s before the depth limit
mkcase deep "title: t
why: $(head -c 100000 /dev/zero | tr '\0' '[')
$base"
expect_refusal deep "deep/case.yaml:2: field 'why': nested deeper than 64 levels" "$tmp/deep"
mkcase big "title: t
$base
why: $(head -c $((1024 * 1024)) /dev/zero | tr '\0' 'x')"
expect_refusal big "big/case.yaml: larger than 1048576 bytes" "$tmp/big"
mkdir -p "$tmp/fifo" && mkfifo "$tmp/fifo/case.yaml"
expect_refusal fifo "fifo/case.yaml: not a regular file" "$tmp/fifo"
mkdir -p "$tmp/device" && ln -s /dev/zero "$tmp/device/case.yaml"
expect_refusal device "device/case.yaml: not a regular file" "$tmp/device"
# eleven scenarios of 20,000 cases: refused while counting, before any case is built
v=$(seq -s, 1 25)
for i in $(seq -w 1 11); do
    mkcase "many/s$i" "title: t
matrix: {a: [$(seq -s, 1 32)], b: [$v], c: [$v]}
$base"
done
expect_refusal many-cases "many/s11/case.yaml: more than 200000 cases in one run" "$tmp/many"

# a folder linking back to its parent is walked once, not once per way round the loop
mkcase loop/s "title: t
$base"
ln -s .. "$tmp/loop/s/up" && ln -s "$tmp/loop" "$tmp/loop/again"
n=$(timeout "$max_seconds" "$runner" --root "$tmp/loop" --list "$tmp/loop" | wc -l)
checked=$((checked + 1))
[[ $n == 1 ]] || fail symlink-loop "$n cases listed, not 1"

# --manifest writes each case's text as the case is checked: a refusal further on must
# leave nothing on standard output (the cases before it included), and exit 2
mkcase half/a "title: t
$base"
mkcase half/b "title: t
ref: r
sockets: {a: {proto: tcp, family: ipv4}}
steps: [{op: bind, socket: a, addr: loopback, port: P1, colour: red}]"
out=$(timeout "$max_seconds" "$runner" --manifest "$tmp/half" 2>"$tmp/half.err")
rc=$?
checked=$((checked + 1))
[[ $rc == 2 && -z $out ]] || fail manifest-half "exit $rc, ${#out} bytes on stdout"
grep -q "half/b/case.yaml:4: field 'steps\[0\].colour'" "$tmp/half.err" ||
    fail manifest-half "not refused for b's unknown key: $(cat "$tmp/half.err")"

# a manifest or list that cannot be written (a full device) is said, exit 1
if [[ -w /dev/full ]]; then
    for what in --manifest --list; do
        err=$(timeout "$max_seconds" "$runner" $what "$tmp/half/a" 2>&1 >/dev/full)
        rc=$?
        checked=$((checked + 1))
        [[ $rc == 1 && $err == *"cannot write the "*"No space left on device"* ]] ||
            fail "full-device$what" "exit $rc: $err"
    done
fi

# a case that does not build among many that do, last or first in the run's order: the run
# stops, says the same as --list, and writes nothing
mkcase mixed/a "title: t
matrix: {n: [$(seq -s, 1 30)], m: [$(seq -s, 1 10)]}
$base"
mkcase mixed/z "title: t
ref: r
matrix: {addr: [loopback, 192.0.2.1, 192.0.2.300]}
sockets: {a: {proto: tcp, family: ipv4}}
steps: [{op: bind, socket: a, addr: \$addr, port: P1}]"
listed=$(timeout "$max_seconds" "$runner" --list "$tmp/mixed" 2>&1 >/dev/null)
[[ $listed == *"mixed/z/case.yaml:5: field 'steps[0].addr'"* ]] ||
    fail mixed "--list does not refuse z's third address: $listed"
expect_run_refusal mixed-last "$listed" "$tmp/mixed"
mv "$tmp/mixed/z" "$tmp/mixed/0"
listed=${listed//mixed\/z/mixed\/0}
expect_run_refusal mixed-first "$listed" "$tmp/mixed"

echo "$checked checked, $failures failed"
[[ $failures == 0 ]]
