#!/usr/bin/env sh
# Builds Node.js base images for deploy/Dockerfile without any container
# registry: a minimal Debian root file system from a Debian mirror, plus the
# Node.js (and npm) installed on this machine.
#
#   deploy/test/build-base-image.sh [RUNTIME_TAG [BUILD_TAG]]
#
# RUNTIME_TAG (default localhost/node:20-slim): Debian minbase, node, npm and
#   the user `node` (uid 1000), like the official node:*-slim images.
# BUILD_TAG (default localhost/node:20-build): the same plus python3, make,
#   g++ and the Node.js headers, so that native add-ons (better-sqlite3)
#   compile when their prebuilt binaries cannot be downloaded.
#
# Settings (environment): DEBIAN_MIRROR (default http://deb.debian.org/debian),
# DEBIAN_SUITE (default bookworm), NODE_BIN (default: `node` on the PATH),
# NODE_HEADERS (default: <node prefix>/include/node), PODMAN_RUNTIME (runc),
# BUILD_CA_CERTS (default: $NODE_EXTRA_CA_CERTS): a PEM bundle the build image
# trusts for HTTPS, for a network whose proxy inspects TLS (npm ci would
# otherwise fail with SELF_SIGNED_CERT_IN_CHAIN). The runtime image never gets it.
# Needs root (debootstrap and chroot), debootstrap and podman.
set -eu

runtime_tag=${1:-localhost/node:20-slim}
build_tag=${2:-localhost/node:20-build}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
podman_runtime=${PODMAN_RUNTIME:-runc}

die() {
  echo "build-base-image: $*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it), e.g. with sudo"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed; apt-get install -y debootstrap"
command -v podman >/dev/null 2>&1 || die "podman is not installed; apt-get install -y podman runc"

node_bin=${NODE_BIN:-$(command -v node || true)}
[ -n "$node_bin" ] && [ -x "$node_bin" ] || die "no node binary found; install Node.js 20+ or set NODE_BIN"
node_bin=$(readlink -f "$node_bin")
node_prefix=$(dirname "$(dirname "$node_bin")")
node_version=$("$node_bin" --version)
case "$node_version" in
  v1[0-9].*|v[0-9].*) die "node $node_version is too old; Tideline needs Node.js 20 or later (set NODE_BIN)" ;;
esac
npm_dir=$node_prefix/lib/node_modules/npm
[ -f "$npm_dir/bin/npm-cli.js" ] || die "no npm next to $node_bin (looked in $npm_dir); install npm with Node.js"
headers=${NODE_HEADERS:-$node_prefix/include/node}
[ -f "$headers/node.h" ] || die "no Node.js headers in $headers; set NODE_HEADERS to the folder holding node.h"
ca_certs=${BUILD_CA_CERTS:-${NODE_EXTRA_CA_CERTS:-}}
[ -z "$ca_certs" ] || [ -f "$ca_certs" ] || die "BUILD_CA_CERTS: no file $ca_certs; point it at a PEM bundle or set it empty"

work=$(mktemp -d "${TMPDIR:-/tmp}/tideline-base.XXXXXX")
cleanup() {
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
rootfs=$work/rootfs

echo "==> Debian $suite (minbase) from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above); check DEBIAN_MIRROR"; }

echo "==> node $node_version and npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version) from $node_bin"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$rootfs" /usr/local/bin/node --version >/dev/null || die "node does not run inside the Debian $suite root file system (libraries missing?)"

slim() {
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
}

# import TAG [ENV-INSTRUCTION...]
import() {
  tag=$1
  shift
  set -- --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" "$@"
  tar -C "$rootfs" --numeric-owner -c . | podman --runtime "$podman_runtime" import --quiet \
    "$@" --change 'CMD ["node"]' - "$tag" >/dev/null
  echo "    $tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

echo "==> $runtime_tag"
slim
import "$runtime_tag" --change 'ENV NODE_ENV=production'

echo "==> $build_tag (python3, make, g++, Node.js headers)"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" apt-get update -qq >"$work/apt.log" 2>&1 \
  && chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 make g++ >>"$work/apt.log" 2>&1 \
  || { tail -n 20 "$work/apt.log" >&2; die "installing the compilers failed (log above); check DEBIAN_MIRROR"; }
mkdir -p "$rootfs/usr/local/include"
cp -a "$headers" "$rootfs/usr/local/include/node"
: >"$rootfs/etc/resolv.conf"
slim
# node-gyp takes the headers from here instead of downloading them.
set -- --change 'ENV npm_config_nodedir=/usr/local' --change 'ENV npm_config_update_notifier=false'
if [ -n "$ca_certs" ]; then
  echo "    trusting the CA certificates in $ca_certs (build image only)"
  cp "$ca_certs" "$rootfs/usr/local/share/build-ca-certificates.pem"
  set -- "$@" --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/build-ca-certificates.pem'
fi
import "$build_tag" "$@"

echo "==> done: pass --build-arg NODE_IMAGE=$runtime_tag --build-arg BUILD_IMAGE=$build_tag"
