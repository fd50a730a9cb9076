#!/usr/bin/env sh
# Builds the container image with podman and checks that it starts: heavy and
# manual, not part of `npm test`. See deploy/README.md.
#
#   scripts/container-test.sh [BASE_IMAGE]
#
# BASE_IMAGE (default node:22-slim) must already be in podman's local store:
# the script never pulls, so it also works without network access to a
# registry. The build itself still installs npm packages (a registry or a
# mirror must be reachable). The image is tagged tideline:container-test.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
base=${1:-node:22-slim}
tag=tideline:container-test
runtime=${PODMAN_RUNTIME:-runc}

if ! command -v podman >/dev/null 2>&1; then
  echo "podman is not installed; install it (or run the same steps with docker by hand)" >&2
  exit 1
fi
if ! podman image exists "$base"; then
  echo "no local image $base; build or load one first (deploy/README.md: a local base image)" >&2
  exit 1
fi

echo "==> building $tag on $base"
podman --runtime "$runtime" build --pull=never --build-arg "NODE_IMAGE=$base" \
  -f "$root/deploy/Dockerfile" -t "$tag" "$root"

run() {
  podman --runtime "$runtime" run --rm "$@"
}

echo "==> the entry point answers"
run "$tag" --version

echo "==> it runs as a non-root user"
uid=$(run --entrypoint id "$tag" -u)
if [ "$uid" = "0" ]; then
  echo "the image runs as root" >&2
  exit 1
fi

echo "==> executor run --check without settings fails, naming the missing variable"
if out=$(run "$tag" executor run --check 2>&1); then
  echo "executor run --check passed without TCLOUD_URL: $out" >&2
  exit 1
fi
echo "$out" | grep -q TCLOUD_URL || { echo "unexpected output: $out" >&2; exit 1; }

echo "==> executor run --check against a cloud in another container"
net=tideline-container-test
podman network exists "$net" || podman network create "$net" >/dev/null
cleanup() {
  podman rm -f tideline-ct-cloud >/dev/null 2>&1 || true
  podman network rm "$net" >/dev/null 2>&1 || true
  podman volume rm -f tideline-ct-data >/dev/null 2>&1 || true
}
trap cleanup EXIT
run -v tideline-ct-data:/app/data "$tag" cloud bootstrap \
  --state sqlite:/app/data/cloud.db --org ct --project demo >/dev/null
creds=$(run -v tideline-ct-data:/app/data "$tag" cloud client create \
  --state sqlite:/app/data/cloud.db --name container-test --role executor --json)
client_id=$(printf '%s' "$creds" | sed -n 's/.*"clientId": *"\([^"]*\)".*/\1/p')
client_secret=$(printf '%s' "$creds" | sed -n 's/.*"clientSecret": *"\([^"]*\)".*/\1/p')
podman --runtime "$runtime" run -d --name tideline-ct-cloud --network "$net" \
  -v tideline-ct-data:/app/data "$tag" \
  cloud serve --state sqlite:/app/data/cloud.db --host 0.0.0.0 --port 8000 >/dev/null
sleep 3
run --network "$net" \
  -e TCLOUD_URL=http://tideline-ct-cloud:8000/sqlmesh/ct/demo \
  -e TCLOUD_CLIENT_ID="$client_id" \
  -e TCLOUD_CLIENT_SECRET="$client_secret" \
  -e SQLMESH__GATEWAYS__LOCAL__CONNECTION__TYPE=duckdb \
  -e SQLMESH__GATEWAYS__LOCAL__CONNECTION__DATABASE=/app/data/warehouse.db \
  "$tag" executor run --check

echo "==> all container checks passed"
