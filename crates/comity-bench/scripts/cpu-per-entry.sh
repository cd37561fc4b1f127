#!/bin/bash
# CPU per published entry across a propagation mesh (issue 16): runs
# `comity-bench --quick --only propagation --followers 15 --entries N`
# from BINDIR while sampling utime + stime of its `comity serve` processes
# every 250 ms, then prints, per mesh (listening origin, dial-out origin),
# the CPU of all nodes from the end of the idle window to the end of the
# publishing, per entry (one at a time and bursts together).
#   cpu-per-entry.sh BINDIR N OUTPREFIX
B=$1; N=$2; OUT=$3; : > "$OUT.cpu"
(
  while true; do
    t=0; n=0
    for p in $(ps -eo pid,args | awk -v b="$B/comity serve" 'index($0, b) {print $1}'); do
      v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null)
      [ -n "$v" ] && t=$((t + v)) && n=$((n + 1))
    done
    echo "$(date +%s.%N) $n $t" >> "$OUT.cpu"
    sleep 0.25
  done
) &
M=$!
"$B/comity-bench" --comity "$B/comity" --quick --only propagation --followers 15 \
    --entries "$N" --report "$OUT.json" > "$OUT.out" 2> "$OUT.err"
kill $M
python3 - "$OUT.cpu" "$N" "$(getconf CLK_TCK)" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
entries, hz = int(sys.argv[2]), float(sys.argv[3])
meshes, cur = [], []
for t, n, v in rows:
    if n >= 16:
        cur.append((t, v))
    elif cur:
        meshes.append(cur); cur = []
if cur:
    meshes.append(cur)
for s in (m for m in meshes if len(m) >= 40):
    start = next((i for i in range(40, len(s) - 4)
                  if (s[i][1] - s[i - 40][1]) / (s[i][0] - s[i - 40][0]) < 0.3 * hz
                  and (s[i + 4][1] - s[i][1]) / (s[i + 4][0] - s[i][0]) > 0.6 * hz), None)
    if start is None:
        print("no idle window found"); continue
    cpu = (s[-1][1] - s[start][1]) / hz
    print(f"publishing {s[-1][0] - s[start][0]:.1f} s, {cpu:.1f} s CPU of all nodes, "
          f"{cpu * 1000 / (2 * entries):.2f} ms per entry")
PY
