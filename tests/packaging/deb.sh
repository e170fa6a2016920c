#!/usr/bin/env bash
# The .deb for real: made by cpack from the build tree, checked (files, conffiles, Depends),
# then installed by apt into a fresh minimal Debian 12 root (mmdebstrap: as debootstrap, in half
# the time), so its Depends and maintainer scripts run as on a real machine. There
# `orderbridge version`, `orderbridge check` of the installed config and a short `orderbridge
# run` with its ledger in /var/lib/orderbridge must pass as the orderbridge user, and
# remove/purge must keep the state.
# usage: deb.sh CPACK BUILD_DIR VERSION    (exit 77: skipped, not root)
set -euo pipefail
cpack=$1
build=$2
version=$3
if [ "$(id -u)" != 0 ]; then
  echo "skipped: needs root (mmdebstrap, chroot)"
  exit 77
fi
start=$(date +%s)
work=$(mktemp -d /var/tmp/ob-deb.XXXXXX)
root=$work/root
cleanup() {
  # Everything mounted in the root was mounted in a private namespace, gone with it; check.
  if grep -q " $work/" /proc/mounts; then
    echo "deb.sh: something is still mounted under $work; not removing it" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "== cpack"
(cd "$build" && "$cpack" -G DEB -B "$work/pkg" >"$work/cpack.log") || { cat "$work/cpack.log"; exit 1; }
deb=$(echo "$work"/pkg/orderbridge_*.deb)
test -f "$deb"
dpkg-deb --info "$deb"
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' >"$work/files"
for f in /usr/bin/orderbridge /usr/lib/libob-sdk.so.0 /lib/systemd/system/orderbridge.service \
    /etc/orderbridge/orderbridge.json /usr/share/orderbridge/example.json \
    /usr/share/man/man1/orderbridge.1.gz /usr/share/orderbridge/contracts/order.v1.schema.json \
    /usr/share/orderbridge/mappings/rest.json; do
  grep -qx "$f" "$work/files" || { echo "missing from the package: $f"; exit 1; }
done
for so in "$build"/adapters/ob-adapter-*.so; do
  f=/usr/lib/orderbridge/adapters/$(basename "$so")
  grep -qx "$f" "$work/files" || { echo "missing from the package: $f"; exit 1; }
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/orderbridge/orderbridge.json
depends=$(dpkg-deb --field "$deb" Depends)
for p in adduser libc6 librdkafka1; do
  grep -qE "(^|, )$p( |,|$)" <<<"$depends" || { echo "Depends lacks $p: $depends"; exit 1; }
done

# The root gets the host's own Debian 12 sources (same mirror as apt here).
mapfile -t sources < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
  'Identifier: Packages' | awk '$1 ~ /\/debian(-security)?\/?$/ &&
  $2 ~ /^bookworm(-updates|-security)?$/ {print "deb " $0}' | sort -u)
[ ${#sources[@]} -gt 0 ] || sources=("deb http://deb.debian.org/debian bookworm main")
echo "== mmdebstrap minbase: ${sources[*]}"
mmdebstrap --quiet --mode=root --variant=minbase --skip=cleanup/apt/lists bookworm "$root" \
  "${sources[@]}"
cp "$deb" "$root/tmp/orderbridge.deb"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/tmp/inside.sh" <<INSIDE
set -eu
export DEBIAN_FRONTEND=noninteractive
step() { echo "== \$*"; }
as_service() { setpriv --reuid orderbridge --regid orderbridge --clear-groups "\$@"; }

step apt-get install ./orderbridge.deb, its Depends from the mirror
apt-get install -y -q --no-install-recommends /tmp/orderbridge.deb
step the orderbridge user and its state directory
getent passwd orderbridge
test "\$(stat -c %U:%G:%a /var/lib/orderbridge)" = orderbridge:orderbridge:750
step orderbridge version
orderbridge version | tee /tmp/version
grep -q "^orderbridge $version " /tmp/version
step every library of the binary and the adapters resolves
for f in /usr/bin/orderbridge /usr/lib/orderbridge/adapters/*.so; do
  if ldd "\$f" | grep 'not found'; then echo "\$f: a library is missing"; exit 1; fi
done
step orderbridge check -c /etc/orderbridge/orderbridge.json, as orderbridge
export KAFKA_SASL_PASSWORD=kafka-password SF_SH_TOKEN=sf-sh-token JD_BJ_TOKEN=jd-bj-token
export SF_SH_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
as_service orderbridge check -c /etc/orderbridge/orderbridge.json | tee /tmp/check
grep -q "adapter rest .* from /usr/.*lib/orderbridge/adapters/ob-adapter-rest.so" /tmp/check
grep -qx "/etc/orderbridge/orderbridge.json: ok" /tmp/check
step orderbridge run, as orderbridge: its ledger in /var/lib/orderbridge, exit 0 on SIGTERM
orderbridge dev-broker --partitions 1 >/tmp/broker.addr 2>/tmp/broker.log &
broker=\$!
trap 'kill \$broker 2>/dev/null || true' EXIT
for i in \$(seq 100); do [ -s /tmp/broker.addr ] && break; sleep 0.1; done
cat >/tmp/run.json <<JSON
{"kafka": {"bootstrap_servers": "\$(cat /tmp/broker.addr)"},
 "ledger": {"path": "/var/lib/orderbridge/ledger"},
 "warehouses": {"WH-1": {"adapter": "rest", "endpoint": "http://127.0.0.1:9",
                         "credentials": {"token": "env:SF_SH_TOKEN"}}},
 "routing": {"default": "WH-1"}}
JSON
setpriv --reuid orderbridge --regid orderbridge --clear-groups \
  orderbridge run -c /tmp/run.json >/tmp/run.log 2>&1 &
bridge=\$!
for i in \$(seq 100); do [ -f /var/lib/orderbridge/ledger/data.mdb ] && break; sleep 0.1; done
sleep 1
kill -TERM \$bridge 2>/dev/null || true
rc=0; wait \$bridge || rc=\$?
kill \$broker; wait \$broker || true
cat /tmp/run.log
test "\$rc" = 0
test "\$(stat -c %U /var/lib/orderbridge/ledger/data.mdb)" = orderbridge
step the man page and the unit
gzip -dc /usr/share/man/man1/orderbridge.1.gz | grep -qx '.SS run'
grep -qx 'ExecStart=/usr/bin/orderbridge run -c /etc/orderbridge/orderbridge.json' \
  /lib/systemd/system/orderbridge.service
step remove keeps the config, the state and the user
apt-get remove -y -q orderbridge
test ! -e /usr/bin/orderbridge
test -f /etc/orderbridge/orderbridge.json
test -d /var/lib/orderbridge
getent passwd orderbridge >/dev/null
step install again, then purge: the state stays
apt-get install -y -q --no-install-recommends /tmp/orderbridge.deb
apt-get purge -y -q orderbridge
test ! -e /etc/orderbridge/orderbridge.json
test -d /var/lib/orderbridge
echo "inside: ok"
INSIDE
# /proc for the binary (it finds its adapters through /proc/self/exe) and /dev/pts for apt,
# mounted in a private mount namespace so they go away with it.
unshare --mount --propagation private -- sh -c 'mount -t proc proc "$1/proc" &&
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$1/dev/pts" &&
  exec chroot "$1" /bin/sh /tmp/inside.sh' sh "$root" \
  2>&1 | tee "$work/inside.log"
grep -qx "inside: ok" "$work/inside.log"
echo "packaging.deb: $(($(date +%s) - start)) s"
