#!/usr/bin/env bash
# An adapter built out of tree against the installed SDK (headers, libob-sdk,
# pkg-config file) loads into the installed orderbridge and signs correctly.
# usage: out_of_tree.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
pkg-config --exists orderbridge-sdk
cmake -S "$src/examples/adapter-hello" -B "$work/hello" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/hello" >/dev/null
test -f "$work/hello/ob-adapter-hello.so"

cat >"$work/config.json" <<JSON
{
  "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
  "warehouses": {
    "HELLO-1": {"adapter": "$work/hello/ob-adapter-hello.so", "endpoint": "http://127.0.0.1:18081",
                "credentials": {"secret": "env:HELLO_SECRET"}},
    "REST-1": {"adapter": "rest", "endpoint": "http://127.0.0.1:18082",
               "credentials": {"token": "env:HELLO_SECRET"}}
  },
  "routing": {"default": "HELLO-1"}
}
JSON
export HELLO_SECRET=out-of-tree-secret
ob="$work/prefix/bin/orderbridge"
out=$("$ob" check -c "$work/config.json")
echo "$out"
grep -q "warehouse HELLO-1: adapter hello" <<<"$out"
grep -q "warehouse REST-1: adapter rest" <<<"$out"   # the installed built-in adapter

req=$("$ob" convert -c "$work/config.json" --warehouse HELLO-1 "$src/contracts/example-order.json")
echo "$req"
body='{"order_no":"SO20231111000123","lines":2}'
want=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$HELLO_SECRET" | sed 's/^.*= //')
grep -qx "POST http://127.0.0.1:18081/v1/orders" <<<"$req"
grep -qx "X-Signature: $want" <<<"$req"
grep -qxF "$body" <<<"$req"

# docs/adapters.md: an adapter refuses settings it does not know, naming the key.
sed 's/"credentials": {"secret": "env:HELLO_SECRET"}}/"credentials": {"secret": "env:HELLO_SECRET"}, "settings": {"colour": "red"}}/' \
  "$work/config.json" >"$work/settings.json"
grep -q colour "$work/settings.json"
if out=$("$ob" check -c "$work/settings.json" 2>&1); then
  echo "check accepted an unknown setting of hello"; exit 1
fi
echo "$out"
grep -q 'settings.colour: unknown setting (hello has none)' <<<"$out"
echo "2 passed, 0 failed"
