#!/usr/bin/env sh
# Builds the container image with podman from local base images and runs it
# end to end: the entry point, the non-root user, `executor run --check`
# without and with a cloud, an apply executor that registers, and a plan
# applied through it into a DuckDB warehouse. Heavy and manual: `npm test`
# does not run it. See deploy/README.md ("Testing the image").
#
#   deploy/test/image-e2e.sh [NODE_IMAGE [BUILD_IMAGE]]
#
# NODE_IMAGE (default localhost/node:20-slim) and BUILD_IMAGE (default: its
# partner localhost/node:20-build when that exists, else NODE_IMAGE; both must
# carry the same Node.js version) must be in podman's
# local store: the script never pulls. deploy/test/build-base-image.sh makes
# both without a registry.
#
# Settings (environment): E2E_IMAGE (the tag built, localhost/tideline:e2e),
# E2E_PORT (the cloud's port on 127.0.0.1, 18765), E2E_SKIP_BUILD=1 (test an
# image already built), PODMAN_RUNTIME (runc), PODMAN_CGROUP_MANAGER (cgroupfs).
#
# The build runs with --network=host so that `npm ci` reaches the npm registry
# (or the mirror in your npm settings) exactly as this machine does; every
# container of the flow uses the host network and talks over 127.0.0.1 only.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
base=${1:-localhost/node:20-slim}
tag=${E2E_IMAGE:-localhost/tideline:e2e}
port=${E2E_PORT:-18765}
podman_runtime=${PODMAN_RUNTIME:-runc}
cgroup_manager=${PODMAN_CGROUP_MANAGER:-cgroupfs}
org=e2e
project=demo
run_id=tl-e2e-$$

die() {
  echo "image-e2e: $*" >&2
  exit 1
}
step() {
  echo "==> $*"
}
pm() {
  podman --runtime "$podman_runtime" --cgroup-manager="$cgroup_manager" "$@"
}
now() {
  date +%s
}

command -v podman >/dev/null 2>&1 || die "podman is not installed; apt-get install -y podman runc"
pm image exists "$base" || die "no local image $base; build it with deploy/test/build-base-image.sh (or podman load one)"
if [ -n "${2:-}" ]; then
  build_base=$2
  pm image exists "$build_base" || die "no local image $build_base; build it with deploy/test/build-base-image.sh"
elif [ "$base" = localhost/node:20-slim ] && pm image exists localhost/node:20-build; then
  # The pair build-base-image.sh makes (same Node.js, so native add-ons match).
  build_base=localhost/node:20-build
else
  build_base=$base
fi

# Everything the flow starts is named $run_id-* and removed on exit.
work=$(mktemp -d "${TMPDIR:-/tmp}/tideline-e2e.XXXXXX")
cleanup() {
  status=$?
  trap - EXIT INT TERM
  for c in "$run_id-apply" "$run_id-cloud"; do
    if pm container exists "$c" 2>/dev/null; then
      if [ "$status" != 0 ]; then
        echo "--- last log lines of $c" >&2
        pm logs --tail 20 "$c" >&2 2>&1 || true
      fi
      pm rm -f -v -t 5 "$c" >/dev/null 2>&1 || true
    fi
  done
  pm volume rm -f "$run_id-cloud" "$run_id-warehouse" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build ----
if [ "${E2E_SKIP_BUILD:-}" = 1 ]; then
  pm image exists "$tag" || die "E2E_SKIP_BUILD=1 but there is no image $tag; run without it once"
  build_line="build skipped (E2E_SKIP_BUILD=1)"
else
  step "building $tag (NODE_IMAGE=$base, BUILD_IMAGE=$build_base)"
  started=$(now)
  pm build --pull=never --network=host \
    --build-arg "NODE_IMAGE=$base" --build-arg "BUILD_IMAGE=$build_base" \
    -f "$root/deploy/Dockerfile" -t "$tag" "$root" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; die "the image build failed (log above); is the npm registry reachable from this machine?"; }
  build_seconds=$(($(now) - started))
  echo "    built in ${build_seconds}s"
  build_line="build ${build_seconds}s"
fi
size_mb=$(pm image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f", $1/1e6}')
echo "    image size ${size_mb} MB"

flow_started=$(now)
# Some hosts refuse a container the default (very high) open-file and process
# limits; then the containers get modest ones instead.
set --
if ! pm run --rm "$tag" --version >/dev/null 2>"$work/probe.err"; then
  grep -q rlimit "$work/probe.err" || { cat "$work/probe.err" >&2; die "the image does not start (error above)"; }
  set -- --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
  echo "    (this host refuses the default rlimits; containers run with nofile=4096, nproc=4096)"
fi
run() {
  pm run --rm "$@"
}
ulimits=$*

# ---- the image alone ----
step "the entry point answers"
version=$(run $ulimits "$tag" --version)
echo "    tideline $version"

step "it runs as a non-root user"
uid=$(run $ulimits --entrypoint id "$tag" -u)
[ "$uid" != 0 ] || die "the image runs as root; it must run as the user node (uid 1000)"
echo "    uid $uid"

step "executor run --check without settings fails with one line naming TCLOUD_URL"
if out=$(run $ulimits "$tag" executor run --check 2>&1); then
  die "executor run --check passed without TCLOUD_URL: $out"
fi
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || die "expected one line from executor run --check, got: $out"
printf '%s\n' "$out" | grep -q TCLOUD_URL || die "the --check message does not name TCLOUD_URL: $out"
echo "    $out"

# ---- a cloud and a hybrid executor in containers ----
base_url=http://127.0.0.1:$port
project_url=$base_url/sqlmesh/$org/$project
state=sqlite:/app/data/cloud.db
pm volume create "$run_id-cloud" >/dev/null
pm volume create "$run_id-warehouse" >/dev/null

json_field() {
  # json_field NAME: the string value of "NAME" in the JSON on stdin.
  sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"
}

step "cloud bootstrap --json (organization $org, project $project) and an executor client"
boot=$(run $ulimits -v "$run_id-cloud:/app/data" "$tag" cloud bootstrap --state "$state" \
  --org "$org" --project "$project" --server "$base_url" --json)
admin_id=$(printf '%s' "$boot" | json_field clientId)
admin_secret=$(printf '%s' "$boot" | json_field clientSecret)
[ -n "$admin_id" ] && [ -n "$admin_secret" ] || die "cloud bootstrap --json printed no client: $boot"
creds=$(run $ulimits -v "$run_id-cloud:/app/data" "$tag" cloud client create --state "$state" \
  --org "$org" --project "$project" --name e2e-executors --role executor --json)
exec_id=$(printf '%s' "$creds" | json_field clientId)
exec_secret=$(printf '%s' "$creds" | json_field clientSecret)
[ -n "$exec_id" ] && [ -n "$exec_secret" ] || die "cloud client create --json printed no client: $creds"

step "cloud serve on 127.0.0.1:$port (host network)"
pm run -d $ulimits --name "$run_id-cloud" --network host -v "$run_id-cloud:/app/data" "$tag" \
  cloud serve --state "$state" --host 127.0.0.1 --port "$port" >/dev/null
# Asks the cloud from inside its container (the image's node, no curl needed).
cloud_node() {
  pm exec "$run_id-cloud" node --input-type=module -e "$@"
}
i=0
until cloud_node "const r = await fetch('$base_url/livez'); process.exit(r.ok ? 0 : 1)" 2>/dev/null; do
  i=$((i + 1))
  pm container exists "$run_id-cloud" && [ "$(pm inspect --format '{{.State.Running}}' "$run_id-cloud")" = true ] \
    || die "the cloud container stopped (log above); is port $port taken? set E2E_PORT"
  [ "$i" -lt 60 ] || die "the cloud did not answer /livez on port $port within 30 s"
  sleep 0.5
done
echo "    /livez answers"

# The executors' settings: the project URL, the client, and gateway LOCAL on a
# DuckDB file in the warehouse volume.
set -- -e "TCLOUD_URL=$project_url" -e "TCLOUD_CLIENT_ID=$exec_id" -e "TCLOUD_CLIENT_SECRET=$exec_secret" \
  -e SQLMESH__GATEWAYS__LOCAL__CONNECTION__TYPE=duckdb \
  -e SQLMESH__GATEWAYS__LOCAL__CONNECTION__DATABASE=/app/data/warehouse.db \
  -e SQLMESH__DEFAULT_GATEWAY=LOCAL

step "executor run --check against the cloud"
out=$(run $ulimits --network host -v "$run_id-warehouse:/app/data" "$@" "$tag" executor run --check 2>&1) \
  || { echo "$out" >&2; die "executor run --check failed against the cloud (output above)"; }
echo "$out" | sed 's/^/    /'

step "an apply executor registers"
pm run -d $ulimits --name "$run_id-apply" --network host -v "$run_id-warehouse:/app/data" "$@" \
  -e TCLOUD_EXECUTOR_NAME=e2e-apply "$tag" executor apply --grace 10 >/dev/null
executors_js="
const t = await (await fetch('$project_url/oauth/token', {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ grant_type: 'client_credentials', client_id: '$admin_id', client_secret: '$admin_secret' }),
})).json();
const r = await fetch('$project_url/api/executors', { headers: { authorization: 'Bearer ' + t.access_token } });
if (!r.ok) { console.error('GET /api/executors: ' + r.status); process.exit(2); }
for (const e of (await r.json()).executors) console.log(e.kind, e.name, e.status, e.version);
"
i=0
while :; do
  listed=$(cloud_node "$executors_js" 2>&1) || die "the cloud's executors API failed: $listed"
  if printf '%s\n' "$listed" | grep -q '^apply e2e-apply online'; then break; fi
  i=$((i + 1))
  [ "$(pm inspect --format '{{.State.Running}}' "$run_id-apply")" = true ] \
    || die "the apply executor exited (log above)"
  [ "$i" -lt 60 ] || die "the apply executor did not register within 30 s; the cloud lists: $listed"
  sleep 0.5
done
echo "    GET /api/executors: $listed"

step "a plan for prod, applied through the apply executor"
mkdir -p "$work/project/models"
cat >"$work/project/config.yaml" <<'YAML'
gateways:
  local:
    connection:
      type: duckdb
      database: warehouse.db
    scheduler:
      type: cloud
default_gateway: local
model_defaults:
  dialect: duckdb
YAML
cat >"$work/project/models/numbers.sql" <<'SQL'
MODEL (
  name e2e.numbers,
  kind FULL
);
SELECT 1 AS n UNION ALL SELECT 2 AS n UNION ALL SELECT 3 AS n
SQL
# The container's user (uid 1000) reads the project and may write beside it.
chmod -R a+rwX "$work/project"
plan_out=$(run $ulimits --network host -v "$work/project:/project" \
  -e "TCLOUD_URL=$project_url" -e "TCLOUD_CLIENT_ID=$admin_id" -e "TCLOUD_CLIENT_SECRET=$admin_secret" \
  "$tag" -p /project plan prod --auto-apply --no-prompts 2>&1) \
  || { echo "$plan_out" >&2; die "the plan did not apply (output above)"; }
echo "$plan_out" | tail -n 3 | sed 's/^/    /'

step "the apply executor drains on SIGTERM, and the warehouse holds the model's rows"
pm stop -t 30 "$run_id-apply" >/dev/null
code=$(pm inspect --format '{{.State.ExitCode}}' "$run_id-apply")
[ "$code" = 0 ] || die "the apply executor exited with $code after SIGTERM (log above)"
rows=$(run $ulimits -v "$run_id-warehouse:/app/data" -v "$work/project:/project" \
  -e SQLMESH__GATEWAYS__LOCAL__CONNECTION__DATABASE=/app/data/warehouse.db \
  "$tag" -p /project fetchdf "SELECT sum(n) AS total FROM e2e.numbers" 2>&1) \
  || { echo "$rows" >&2; die "reading e2e.numbers from the warehouse failed (output above)"; }
printf '%s\n' "$rows" | grep -qw 6 || die "e2e.numbers does not hold 1, 2, 3: $rows"
echo "    sum(n) = 6"

flow_seconds=$(($(now) - flow_started))
echo "==> all checks passed: ${build_line}, image ${size_mb} MB, checks and flow ${flow_seconds}s"
