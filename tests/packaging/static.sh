#!/usr/bin/env bash
# What can be checked of the packaging without building it.
# packaging/Dockerfile (there is no Docker engine here): every package it installs exists in
# Debian 12, its build stage has every library of scripts/install-deps, the line of the example
# config it rewrites is there, and it runs as a non-root user. (deb.sh installs the .deb the way
# its runtime stage does.)
# packaging/orderbridge.service: its stop timeout covers the bridge's shutdown deadline, it
# reloads only if the bridge handles SIGHUP, its paths are the package's, and systemd rates its
# hardening.
# usage: static.sh SOURCE_DIR
set -euo pipefail
src=$1
dockerfile=$src/packaging/Dockerfile
unit=$src/packaging/orderbridge.service
fail=0
bad() { echo "$*"; fail=1; }

# RUN lines with their continuations joined.
joined=$(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' "$dockerfile")
packages=$(grep -oE 'apt-get install [^&]*' <<<"$joined" | tr ' ' '\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install' | sort -u)
[ -n "$packages" ] || bad "Dockerfile: no apt-get install found"
found=$(apt-cache show --no-all-versions $packages 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
for p in $(comm -23 <(echo "$packages") <(echo "$found")); do
  bad "Dockerfile: no Debian package $p"
done

# The build stage has every library of scripts/install-deps but those only the tests use.
for p in $(grep -oE 'lib[a-z0-9.+-]*-dev' "$src/scripts/install-deps" | sort -u); do
  case $p in libcmocka-dev | libclang-rt-*) continue ;; esac
  grep -qx "$p" <<<"$packages" || bad "Dockerfile: the build stage lacks $p (scripts/install-deps has it)"
done

grep -q '"listen": "127.0.0.1:8080"' "$src/conf/example.json" ||
  bad "Dockerfile: its sed expects \"listen\": \"127.0.0.1:8080\" in conf/example.json"
user=$(awk '$1 == "USER" {u = $2} END {print u}' "$dockerfile")
case ${user%%:*} in '' | 0 | root) bad "Dockerfile: runs as root (USER '$user')" ;; esac

# A stop takes pipeline.shutdown_timeout_ms + 2 s + librdkafka's teardown (up to 6 s with Kafka
# down: docs/operations.md); systemd must not kill the bridge before.
shutdown_ms=$(sed -n 's/.*LONG("shutdown_timeout_ms", "\([0-9]*\)".*/\1/p' "$src/src/config.c")
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
if [ -z "$shutdown_ms" ] || [ -z "$stop_s" ]; then
  bad "orderbridge.service: shutdown_timeout_ms's default or TimeoutStopSec not found"
elif [ $((stop_s * 1000)) -lt $((shutdown_ms + 8000 + 10000)) ]; then
  bad "orderbridge.service: TimeoutStopSec=$stop_s leaves under 10 s over shutdown_timeout_ms ${shutdown_ms} + 8 s"
fi
if grep -q '^ExecReload=' "$unit" && ! grep -q SIGHUP "$src"/src/*.c; then
  bad "orderbridge.service: ExecReload sends SIGHUP, which the bridge does not handle (it would die)"
fi
config=$(cat "$src/packaging/deb/conffiles")
grep -qx "ExecStart=/usr/bin/orderbridge run -c $config" "$unit" ||
  bad "orderbridge.service: ExecStart is not /usr/bin/orderbridge run -c $config"
grep -qx 'StateDirectory=orderbridge' "$unit" &&
  grep -q '"path": "/var/lib/orderbridge/' "$src/conf/example.json" ||
  bad "orderbridge.service: the example's ledger.path is not in StateDirectory=orderbridge"
# Exposure 0-10, "OK" up to 2.0 (systemd-analyze --threshold counts tenths).
security=$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1) ||
  { echo "$security"; bad "orderbridge.service: exposure above 2.0"; }
tail -1 <<<"$security"

[ "$fail" = 0 ] && echo "packaging: $(wc -w <<<"$packages") Dockerfile packages exist, all checks pass"
exit "$fail"
