#!/bin/bash
# Profiles the one-at-a-time phase of the propagation scenario (issue 16):
# runs `comity-bench --quick --only propagation --followers 15` from the
# binaries in BINDIR and, once the publisher leaves the idle window,
# records `perf` system-wide with DWARF call graphs for 5 s.
#   perf-propagation.sh BINDIR OUTPREFIX [ENTRIES]
# Then, for instance:
#   perf report -i OUTPREFIX.perf.data --no-children -g none --sort comm --stdio
#   perf script -i OUTPREFIX.perf.data -F pid,comm   (samples per process; OUTPREFIX.pids names them)
B=$1; OUT=$2; N=${3:-3000}
"$B/comity-bench" --comity "$B/comity" --quick --only propagation --followers 15 \
    --entries "$N" --report "$OUT.json" > "$OUT.out" 2> "$OUT.err" &
BPID=$!
for _ in $(seq 1 600); do
  P=$(ps -eo pid,args | awk '/comity serve/ && /\/pub($| )/ {print $1}' | head -1)
  [ -n "$P" ] && break; sleep 0.5
done
ticks() { awk '{print $14+$15}' "/proc/$P/stat"; }
# The idle window: three 2-s spans of under 10 ticks; then the first rise.
low=0
while [ $low -lt 3 ]; do
  a=$(ticks); sleep 2; b=$(ticks)
  if [ $((b - a)) -lt 10 ]; then low=$((low + 1)); else low=0; fi
done
while true; do a=$(ticks); sleep 0.2; b=$(ticks); [ $((b - a)) -ge 4 ] && break; done
ps -eo pid,args | awk '/comity serve/ {print $1, $NF}' > "$OUT.pids"
perf record -a -F 997 -g --call-graph dwarf,8192 -o "$OUT.perf.data" -- sleep 5 2> "$OUT.perf.err"
wait $BPID
