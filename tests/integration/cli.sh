#!/usr/bin/env bash
# The command line as an operator meets it: help, version, check, dev-broker.
# usage: cli.sh ORDERBRIDGE_BINARY CONFIG_DATA_DIR CONTRACTS_DIR
set -u
bin=$1
data=$2
contracts=$3
pass=0
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect CODE DESCRIPTION -- COMMAND...: exit code CODE; then `has TEXT` checks its output.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$out" 2>&1
  local got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $what: exit $got, expected $want"; sed 's/^/    /' "$out"; fi
}
has() {
  if grep -qF -- "$1" "$out"; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: output lacks: $1"; sed 's/^/    /' "$out"; fi
}
lacks() {
  if grep -qF -- "$1" "$out"; then
    fail=$((fail + 1)); echo "FAIL: output must not contain: $1"; else pass=$((pass + 1)); fi
}

export CLI_TEST_TOKEN=tok-5f2a9c1e-never-print-me

expect 0 "top-level help" -- "$bin" --help
has "usage: orderbridge <command>"
expect 2 "no command" -- "$bin"
expect 2 "unknown command" -- "$bin" frobnicate
has 'unknown command "frobnicate"'
for cmd in run demo dev-broker sim check convert; do
  expect 0 "$cmd --help" -- "$bin" $cmd --help
  has "usage: orderbridge $cmd"
done
expect 0 "version" -- "$bin" version
has "adapter ABI 1"

expect 0 "check good config" -- "$bin" check -c "$data/good.json"
has "warehouse WH-1: adapter rest"
has "example order -> POST http://127.0.0.1:18080/orders"
has "JSON body"
has "good.json: ok"

expect 1 "check renders the example order through each mapping" -- "$bin" check -c "$data/bad-mapping.json"
has '$.warehouses.MAP-1: the contract'"'"'s example order cannot be encoded'
has 'needs-email.json:1: {{ buyer.email }}: required value is missing'
lacks "$CLI_TEST_TOKEN"

expect 1 "check unknown key" -- "$bin" check -c "$data/unknown-key.json"
has '$.warehouses.WH-1.timout_ms: unknown key'

expect 1 "check reports every problem" -- "$bin" check -c "$data/several-problems.json"
has '$.kafka.bootstrap_servers: required'
has '$.kafka.group_id'
has '$.pipeline.max_in_flight'
has '$.warehouses.WH-1.endpoint'
has '$.warehouses.WH-1.credentials.token'
has '$.warehouses.WH-1.credentials.key'
has '$.routing.default'
lacks "s3cr3t-literal"

expect 1 "check unknown adapter" -- "$bin" check -c "$data/bad-adapter.json"
has '$.warehouses.WH-1.adapter'
has 'ob-adapter-no-such-adapter.so not found'

expect 1 "check bad librdkafka property" -- "$bin" check -c "$data/bad-kafka-property.json"
has '$.kafka.properties["securty.protocol"]'

expect 1 "check bad adapter settings" -- "$bin" check -c "$data/bad-settings.json"
has '$.warehouses.WH-1'
has 'shiping_methods'

unset CLI_TEST_TOKEN
expect 1 "check with a missing secret" -- "$bin" check -c "$data/good.json"
has 'CLI_TEST_TOKEN'
export CLI_TEST_TOKEN=tok-5f2a9c1e-never-print-me

expect 0 "convert the example order (routed by an alias)" -- "$bin" convert -c "$data/good.json" "$contracts/example-order.json"
has "POST http://127.0.0.1:18080/orders"
has "Authorization: ****"
has "Idempotency-Key: "
has '"reference_id":"SO20231111000123"'
has '"name":"张三"'
lacks "$CLI_TEST_TOKEN"
expect 0 "convert --show-secrets" -- "$bin" convert -c "$data/good.json" --show-secrets --warehouse WH-1 "$contracts/example-order.json"
has "Authorization: Bearer $CLI_TEST_TOKEN"
# Secrets are masked in every form a request carries them (here URL-encoded in a form body).
export CLI_EMS_SENDER=1100099 CLI_EMS_AUTH='K7+gq/Zp=&Auth 9~' CLI_EMS_KEY='TvaBgrhE46sft3nZlfe7xw=='
expect 0 "convert masks URL-encoded secrets" -- "$bin" convert -c "$data/ems.json" --warehouse EMS-1 "$contracts/example-order.json"
has "logitcsInterface="
lacks "K7+gq/Zp"
lacks "K7%2Bgq%2FZp"
lacks "TvaBgrhE46sft3nZlfe7xw"
# A credential is masked where it is a value of its own, not inside a word:
# a one-letter app_key (also in the host name and the path) and one that is
# a word of the host name.
export CLI_QM_SECRET=qimen-sign-secret
for key in q qimen; do
  export CLI_QM_KEY=$key
  expect 0 "convert masks a $key app_key as a value only" -- "$bin" convert -c "$data/qimen-one-letter-key.json" --warehouse QM-1 "$contracts/example-order.json"
  has "POST http://q.qimen.example:18084/router/qm?"
  has "&app_key=****&"
  lacks "app_key=$key&"
done
unset CLI_QM_KEY CLI_QM_SECRET
expect 0 "check renders an EMS request" -- "$bin" check -c "$data/ems.json"
has "example order -> POST http://127.0.0.1:18083/api"

printf '{"schema":"order.v1"}' >"$out.order"
expect 1 "convert an invalid order" -- "$bin" convert -c "$data/good.json" "$out.order"
has "invalid_order"
rm -f "$out.order"
expect 2 "convert to an unknown warehouse" -- "$bin" convert -c "$data/good.json" --warehouse NOPE "$contracts/example-order.json"
has "NOPE is not a configured warehouse"

expect 2 "run with a bad config" -- "$bin" run -c "$data/unknown-key.json"
has 'timout_ms'
expect 2 "run without -c" -- "$bin" run
expect 2 "sim without a profile" -- "$bin" sim
expect 2 "sim with an unknown profile" -- "$bin" sim --profile nope
has 'unknown profile "nope"'
expect 2 "sim with a rate out of range" -- "$bin" sim --profile rest --fail-rate 1.5
has 'bad value for --fail-rate: 1.5'
expect 2 "sim with a credential the profile lacks" -- "$bin" sim --profile ems --credential token=x
has 'sender_no authorization sign_key'

# dev-broker: a real Kafka endpoint that another client (kcat) can use.
broker_out=$(mktemp)
"$bin" dev-broker --partitions 3 >"$broker_out" 2>/dev/null &
broker=$!
for _ in $(seq 1 100); do [ -s "$broker_out" ] && break; sleep 0.1; done
bootstrap=$(head -n1 "$broker_out")
if [ -n "$bootstrap" ] && command -v kcat >/dev/null; then
  expect 0 "kcat lists the dev-broker's topics" -- kcat -b "$bootstrap" -L -m 5
  has 'topic "orders" with 3 partitions'
  has 'topic "fulfillment.status"'
  echo '{"hello":"kafka"}' | kcat -b "$bootstrap" -P -t orders -k k1 -p 0 2>/dev/null
  expect 0 "kcat reads back what it wrote" -- kcat -b "$bootstrap" -C -t orders -p 0 -o beginning -c 1 -e -m 5
  has '{"hello":"kafka"}'
  # replay reads Kafka only: warehouse secrets unset and a client key that
  # does not exist do not stop it (run and check would refuse this config).
  cat >"$out.replay.json" <<JSON
{"kafka": {"bootstrap_servers": "$bootstrap"},
 "warehouses": {"WH-1": {"adapter": "rest", "endpoint": "https://127.0.0.1:18080",
                         "credentials": {"token": "env:CLI_REPLAY_UNSET", "key": "file:/nonexistent/key"},
                         "tls": {"client_cert": "/nonexistent/cert.pem", "client_key": "/nonexistent/key.pem"}}}}
JSON
  unset CLI_REPLAY_UNSET
  expect 0 "replay without the warehouses' secrets" -- "$bin" replay -c "$out.replay.json" --dlq --dry-run
  has "replay: read 0 dead letters"
  expect 2 "replay: the rest of the config is still checked" -- "$bin" replay -c "$data/unknown-key.json" --dlq --dry-run
  has 'timout_ms: unknown key'
  expect 1 "check still needs those secrets" -- "$bin" check -c "$out.replay.json"
  has 'CLI_REPLAY_UNSET'
  rm -f "$out.replay.json"
else
  fail=$((fail + 1)); echo "FAIL: dev-broker printed no bootstrap address, or kcat is missing"
fi
kill -TERM "$broker"
wait "$broker"
rc=$?
if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: dev-broker exit $rc on SIGTERM"; fi
rm -f "$broker_out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
