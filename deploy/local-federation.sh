#!/usr/bin/env bash
# Runs a small Comity federation on this machine, one real `comity serve`
# process per organisation, each with its own data directory, key, loopback
# port and local API socket, all peered with each other (reciprocally).
#
#   deploy/local-federation.sh [N]      N organisations, default 3, at most 16
#
# Environment:
#   COMITY_BIN        the comity binary to run (default: target/release/comity,
#                     built with `cargo build --release -p comity-cli` if missing)
#   COMITY_PORT_BASE  first port to try (default 7400); busy ports are skipped
#   COMITY_LOG        log filter for the nodes (default: info)
#
# Data and logs go to a new temporary directory (printed at start; kept after
# exit, so the logs can be read). Ctrl-C stops every node with SIGTERM.
set -euo pipefail

if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
  echo "$0 needs bash 5.1 or newer (this is $BASH_VERSION)" >&2
  exit 1
fi

readonly ORGS=(itu ietf icann ripe-ncc afrinic apnic arin lacnic isoc w3c igf
  kenya-igf eurodig m3aawg apwg ministry)

usage() {
  echo "usage: $0 [N]   (N organisations, 2 to ${#ORGS[@]}, default 3)" >&2
  exit 64
}

row() { printf '%s\t%s\t%s\n' "$@"; }

# The name, stakeholder group and region of an organisation, tab-separated.
describe() {
  case "$1" in
    itu) row "International Telecommunication Union" intergovernmental global ;;
    ietf) row "Internet Engineering Task Force" technical-academic global ;;
    icann) row "Internet Corporation for Assigned Names and Numbers" technical-academic global ;;
    ripe-ncc) row "RIPE NCC" technical-academic "Europe, Middle East, Central Asia" ;;
    afrinic) row "AFRINIC" technical-academic Africa ;;
    apnic) row "APNIC" technical-academic Asia-Pacific ;;
    arin) row "ARIN" technical-academic "North America" ;;
    lacnic) row "LACNIC" technical-academic "Latin America and Caribbean" ;;
    isoc) row "Internet Society" civil-society global ;;
    w3c) row "World Wide Web Consortium" technical-academic global ;;
    igf) row "Internet Governance Forum" intergovernmental global ;;
    kenya-igf) row "Kenya Internet Governance Forum" civil-society Africa ;;
    eurodig) row "European Dialogue on Internet Governance" civil-society Europe ;;
    m3aawg) row "Messaging, Malware and Mobile Anti-Abuse Working Group" private-sector global ;;
    apwg) row "Anti-Phishing Working Group" private-sector global ;;
    ministry) row "Ministry of Information and Communication Technology" government national ;;
    *) return 1 ;;
  esac
}

n=${1:-3}
[[ $# -le 1 && $n =~ ^[0-9]+$ ]] || usage
((n >= 2 && n <= ${#ORGS[@]})) || usage

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${COMITY_BIN:-} ]]; then
  if ! bin=$(command -v "$COMITY_BIN") || [[ ! -x $bin ]]; then
    echo "COMITY_BIN=$COMITY_BIN is not an executable file" >&2
    exit 1
  fi
else
  bin=$repo/target/release/comity
fi
if [[ ! -x $bin ]]; then
  command -v cargo >/dev/null || {
    echo "cargo is not on PATH: install Rust (https://rustup.rs) or set COMITY_BIN" >&2
    exit 1
  }
  echo "building $bin (cargo build --release -p comity-cli)..."
  (cd "$repo" && cargo build --release -p comity-cli)
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# True when something listens on 127.0.0.1:$1.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Reads one string field of the JSON object `comity id --json` prints.
json_field() {
  sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

root=$(mktemp -d "${TMPDIR:-/tmp}/comity-federation.XXXXXX")
pids=()

# Called from the traps below (shellcheck cannot see that).
# shellcheck disable=SC2317
stop_nodes() {
  trap - EXIT INT TERM
  if ((${#pids[@]} > 0)); then
    echo
    echo "stopping ${#pids[@]} node(s)..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do
      wait "$pid" 2>/dev/null || true
    done
    pids=()
  fi
  echo "data and logs kept in $root (remove it with: rm -rf '$root')"
}
trap stop_nodes EXIT
trap 'stop_nodes; exit 130' INT
trap 'stop_nodes; exit 143' TERM

echo "data in $root"
orgs=("${ORGS[@]:0:n}")
declare -A key endpoint
port=${COMITY_PORT_BASE:-7400}
for org in "${orgs[@]}"; do
  tries=0
  while port_busy "$port"; do
    port=$((port + 1))
    tries=$((tries + 1))
    ((tries < 200)) || {
      echo "no free port found near $port" >&2
      exit 1
    }
  done
  IFS=$'\t' read -r name group region < <(describe "$org")
  "$bin" init --org "$org" --name "$name" --stakeholder-group "$group" \
    --region "$region" --data "$root/$org" --listen "127.0.0.1:$port" \
    --http "127.0.0.1:$((port + 1000))" >/dev/null
  id_json=$("$bin" id --data "$root/$org" --json)
  key[$org]=$(json_field key <<<"$id_json")
  endpoint[$org]=$(json_field endpoint <<<"$id_json")
  [[ -n ${key[$org]} && -n ${endpoint[$org]} ]] || {
    echo "cannot read the identity of $org from: $id_json" >&2
    exit 1
  }
  printf '  %-10s %s  dashboard http://127.0.0.1:%s\n' "$org" "${endpoint[$org]}" "$((port + 1000))"
  port=$((port + 1))
done

# Every organisation pins every other one; the nodes are not running yet, so
# `peer add` writes straight into each store.
for org in "${orgs[@]}"; do
  for other in "${orgs[@]}"; do
    [[ $org != "$other" ]] || continue
    "$bin" peer add "$other" --key "${key[$other]}" --endpoint "${endpoint[$other]}" \
      --data "$root/$org" >/dev/null
  done
done

for org in "${orgs[@]}"; do
  NO_COLOR=1 COMITY_LOG=${COMITY_LOG:-info} "$bin" serve --data "$root/$org" >"$root/$org.log" 2>&1 &
  pids+=("$!")
done

# Wait (up to 30 s) until every node answers on its socket and every peer is connected.
deadline=$((SECONDS + 30))
for i in "${!orgs[@]}"; do
  org=${orgs[$i]}
  until status=$("$bin" status --data "$root/$org" --json 2>/dev/null) &&
    ! grep -q '"connected": false' <<<"$status"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "the node of $org exited; its log ($root/$org.log) ends with:" >&2
      tail -n 20 "$root/$org.log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "warning: $org is not connected to all its peers after 30 s; see $root/$org.log" >&2
      break
    fi
    sleep 0.2
  done
done

first=${orgs[0]}
second=${orgs[1]}
cat <<EOF

${#orgs[@]} organisations are running and peered with each other. In another terminal:

  export PATH="$(dirname "$bin"):\$PATH"
  comity status --data $root/$first
  comity publish consultation --data $root/$first --title "Developmental aspects of the Internet" --closes 2027-03-31
  comity log --data $root/$second
  comity peer list --data $root/$second --json

Logs: $root/<org>.log. Press Ctrl-C to stop every node.
EOF

# Wait for Ctrl-C or SIGTERM (the traps stop every node). Should a node exit
# on its own first, say so and stop the others.
rc=0
wait -n "${pids[@]}" || rc=$?
echo "a node exited on its own (status $rc); stopping the others" >&2
exit 1
