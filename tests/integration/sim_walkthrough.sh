#!/usr/bin/env bash
# The integrator's walkthrough of README.md ("Try a warehouse locally"), run for real:
# dev-broker, one `orderbridge sim` per profile (callbacks: rest, sf_express, qimen;
# polled: cainiao, ems; no status: rest as the mapping adapter), a config built from the
# entries they print, `orderbridge run -c`, one order each produced with kcat, then
# each sim's log and counters and the status topic read back with kcat.
# usage: sim_walkthrough.sh ORDERBRIDGE_BINARY CONTRACTS_DIR
set -u
bin=$1
contracts=$2
dir=$(mktemp -d)
pids=()
pass=0
fail=0

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# wait_for FILE PATTERN SECONDS: until a line of FILE matches the extended regex PATTERN.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -qE -- "$2" "$1" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.1
  done
}

command -v kcat >/dev/null || { echo "FAIL: kcat is missing (scripts/install-deps)"; exit 1; }

# A port nothing listens on, for the bridge's callback listener (the sims must know it
# before the bridge starts; the bridge fails loudly should another process take it first).
port=
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "FAIL: no free port found"; exit 1; }

"$bin" dev-broker --partitions 2 >"$dir/broker.out" 2>"$dir/broker.err" &
pids+=($!)
wait_for "$dir/broker.out" '^[^ ]+:[0-9]+$' 20 || { bad "dev-broker printed no address"; exit 1; }
broker=$(head -n1 "$dir/broker.out")

# name|sim options|how status comes back
walk=(
  "sf|--profile sf_express|callback"
  "rest|--profile rest|callback"
  "qimen|--profile qimen|callback"
  "cainiao|--profile cainiao|poll"
  "ems|--profile ems|poll"
  "mapping|--profile rest --adapter mapping|none"
)
declare -A sim
entries=
for w in "${walk[@]}"; do
  IFS='|' read -r name opts status <<<"$w"
  code=SIM-$(echo "$name" | tr a-z A-Z)
  cb=()
  [ "$status" = callback ] && cb=(--callback-url "http://127.0.0.1:$port/callbacks/$code")
  # shellcheck disable=SC2086
  "$bin" sim $opts --port 0 --code "$code" --status-step-ms 100 "${cb[@]}" \
    >"$dir/$name.out" 2>"$dir/$name.log" &
  sim[$name]=$!
  pids+=($!)
  if ! wait_for "$dir/$name.out" '^-----END ORDERBRIDGE WAREHOUSE-----$' 10; then
    bad "sim $opts printed no config entry"; cat "$dir/$name.out" "$dir/$name.log"; exit 1
  fi
  # The entry is a JSON object with one member: keep the member, join the members.
  member=$(sed -n '/^-----BEGIN ORDERBRIDGE WAREHOUSE-----$/,/^-----END ORDERBRIDGE WAREHOUSE-----$/p' \
    "$dir/$name.out" | sed '1,2d' | sed '$d' | sed '$d')
  entries="${entries:+$entries,
}$member"
  eval "$(grep '^export ' "$dir/$name.out")"
done
cat >"$dir/my.json" <<EOF
{
  "kafka": {"bootstrap_servers": "$broker", "group_id": "sim-walkthrough"},
  "http": {"listen": "127.0.0.1:$port"},
  "ledger": {"path": "$dir/ledger"},
  "warehouses": {
$entries
  }
}
EOF
if "$bin" check -c "$dir/my.json" >"$dir/check.out" 2>&1; then ok; else
  bad "check -c on the pasted entries"; cat "$dir/check.out" "$dir/my.json"; exit 1; fi

kcat -b "$broker" -C -t fulfillment.status -o beginning -u -f '%s\n' >"$dir/status.out" 2>/dev/null &
pids+=($!)
"$bin" run -c "$dir/my.json" >"$dir/run.log" 2>&1 &
bridge=$!
pids+=($bridge)

for w in "${walk[@]}"; do
  IFS='|' read -r name _ _ <<<"$w"
  code=SIM-$(echo "$name" | tr a-z A-Z)
  sed -e "s/\"order_id\":\"SO20231111000123\"/\"order_id\":\"WALK-$name\"/" \
      -e "s/\"warehouse\":\"SF-SH-01\"/\"warehouse\":\"$code\"/" "$contracts/example-order.json" |
    kcat -b "$broker" -P -t orders -k "WALK-$name" 2>/dev/null || bad "kcat could not produce"
done

for w in "${walk[@]}"; do
  IFS='|' read -r name opts status <<<"$w"
  if wait_for "$dir/$name.log" ": 20[01], accepted WALK-$name\$" 20; then ok; else
    bad "sim $opts logged no accepted order"; cat "$dir/$name.log"; fi
  if wait_for "$dir/status.out" "\"order_id\":\"WALK-$name\".*\"status\":\"ACCEPTED\"" 20; then ok; else
    bad "$name: no ACCEPTED event"; fi
  if [ "$status" != none ]; then
    if wait_for "$dir/status.out" "\"order_id\":\"WALK-$name\".*\"source\":\"$status\"" 20; then ok; else
      bad "$name: no status event from a $status"; cat "$dir/$name.log"; fi
  fi
done
grep -q ' callback .* for WALK-sf: 200, taken$' "$dir/sf.log" && ok || bad "sf: no callback logged"
grep -q 'status query WALK-cainiao$' "$dir/cainiao.log" && ok || bad "cainiao: no query logged"

kill -TERM "$bridge"
wait "$bridge" || bad "run: exit $? on SIGTERM"
for w in "${walk[@]}"; do
  IFS='|' read -r name opts _ <<<"$w"
  kill -TERM "${sim[$name]}"
  wait "${sim[$name]}" || bad "sim $opts: exit $? on SIGTERM"
  grep -q 'stopped\. requests [0-9]*: created 1, duplicates 0, unauthorized 0, bad signatures 0, bad requests 0' \
    "$dir/$name.out" && ok || { bad "sim $opts: counters"; tail -n 3 "$dir/$name.out"; }
  # Its credentials are on its stdout, never in its log lines.
  while read -r value; do
    if grep -qF -- "$value" "$dir/$name.log"; then bad "sim $opts logged a credential"; else ok; fi
  done < <(sed -n "s/^export [A-Z0-9_]*='\(.*\)'\$/\1/p" "$dir/$name.out")
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
