#!/usr/bin/env bash
# Builds the Dockerfile for real, runs the image as Kubernetes would (read-only root filesystem,
# non-root user) and checks it: /healthz, /ready, a prediction, /metrics, JSON-only logs, the
# OCI labels, and a clean exit 0 on SIGTERM. Prints the build time and the image size.
#
#   npm run image:test            (or: bash scripts/image-test.sh)
#
# Engines: Docker when a Docker daemon answers; otherwise buildah + podman (Debian: apt-get install
# buildah podman runc debootstrap). When the base image (the Dockerfile's NODE_IMAGE) is neither
# local nor pullable, a stand-in is made under its name: Debian from debootstrap, the same Node.js
# release from the npm registry package node-linux-<arch>, and the npm that release ships.
#
# Environment (all optional):
#   IMAGE                 tag to build                       (default: meshserve:image-test)
#   CONTAINER_ENGINE      docker | podman                    (default: docker if its daemon answers)
#   BASE_IMAGE_SOURCE     auto | pull | stand-in             (default: auto = local, else pull, else stand-in)
#   STAND_IN_NPM_VERSION  npm put into the stand-in          (default: 10.8.2, what Node 20.20.2 ships)
#   DEBIAN_MIRROR         mirror for debootstrap             (default: the one apt uses here)
#   PODMAN_RUNTIME        OCI runtime for podman run         (default: runc when installed)
#   KEEP_CONTAINER=1      leave the test container behind for inspection
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
IMAGE=${IMAGE:-meshserve:image-test}
BASE_IMAGE_SOURCE=${BASE_IMAGE_SOURCE:-auto}
STAND_IN_NPM_VERSION=${STAND_IN_NPM_VERSION:-10.8.2}
started=$(date +%s)
work=$(mktemp -d)
container=""

log() { printf '[image-test] %s\n' "$*"; }
die() { printf '[image-test] FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  if [[ -n "$container" && "${KEEP_CONTAINER:-}" != 1 ]]; then "$engine" rm -f "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
  if [[ $rc -ne 0 ]]; then log "exit code $rc"; fi
}
trap cleanup EXIT

# --- engine -------------------------------------------------------------------------------------
engine=${CONTAINER_ENGINE:-}
if [[ -z "$engine" ]]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
  elif command -v podman >/dev/null 2>&1 && command -v buildah >/dev/null 2>&1; then
    engine=podman
  else
    die "no container engine: start a Docker daemon, or install buildah and podman (Debian: apt-get install buildah podman runc debootstrap)"
  fi
fi
case "$engine" in
  docker | podman) ;;
  *) die "CONTAINER_ENGINE must be docker or podman, not '$engine'" ;;
esac

# podman: runc where installed (crun cannot run in some sandboxes), explicit ulimits (the defaults
# copy the host's hard limits, which some hosts do not let a container raise to).
run_flags=()
if [[ $engine == podman ]]; then
  runtime=${PODMAN_RUNTIME:-$(command -v runc >/dev/null 2>&1 && echo runc || true)}
  [[ -n "$runtime" ]] && run_flags+=(--runtime "$runtime")
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [[ $nofile == unlimited || $nofile -gt 20000 ]] && nofile=20000
  [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
  run_flags+=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
fi

# --- base image ---------------------------------------------------------------------------------
base=$(sed -n 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' Dockerfile | head -1)
[[ -n "$base" ]] || die "Dockerfile has no 'ARG NODE_IMAGE=' default"
# The fully qualified name short names resolve to (node:TAG -> docker.io/library/node:TAG).
case "$base" in
  */*/*) base_fq=$base ;;
  */*) base_fq=docker.io/$base ;;
  *) base_fq=docker.io/library/$base ;;
esac

image_exists() {
  if [[ $engine == docker ]]; then docker image inspect "$1" >/dev/null 2>&1; else podman image exists "$1"; fi
}

# Makes a stand-in for node:<version>-<suite>-slim and stores it under that name.
make_stand_in() {
  local tag=${base##*:} node_version suite deb_arch node_arch mirror root
  node_version=${tag%%-*}
  suite=$(echo "$tag" | sed -n 's/^[0-9.]*-\([a-z]*\)-slim$/\1/p')
  [[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && -n $suite ]] || die "cannot make a stand-in for '$base' (expected node:X.Y.Z-<suite>-slim)"
  for tool in debootstrap npm tar; do command -v $tool >/dev/null 2>&1 || die "a stand-in for $base needs $tool (Debian: apt-get install debootstrap)"; done
  case "$(uname -m)" in
    x86_64) deb_arch=amd64 node_arch=x64 ;;
    aarch64 | arm64) deb_arch=arm64 node_arch=arm64 ;;
    *) die "no stand-in recipe for $(uname -m)" ;;
  esac
  mirror=${DEBIAN_MIRROR:-}
  if [[ -z $mirror ]]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\/debian\)\/\{0,1\}$/\1/p' | head -1)
    [[ -n $mirror ]] || mirror=$(cat /etc/apt/sources.list 2>/dev/null | sed -n 's/^deb \([^ ]*\/debian\)\/\{0,1\} .*/\1/p' | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  log "making a stand-in for $base: debootstrap $suite ($deb_arch) from $mirror, node-linux-$node_arch@$node_version, npm@$STAND_IN_NPM_VERSION"
  root=$work/rootfs
  debootstrap --variant=minbase --arch="$deb_arch" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # Trimmed as Debian's -slim images are: no package lists or caches, docs, man pages or locales.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old "$root"/var/log/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian
  find "$root"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
  find "$root"/usr/share/doc -mindepth 1 -type d -empty -delete
  cat >"$root"/etc/dpkg/dpkg.cfg.d/slim <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  # Node.js as the official image lays it out: the release's bin, include and share under /usr/local.
  (cd "$work" && npm pack --silent "node-linux-$node_arch@$node_version" "npm@$STAND_IN_NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/node-linux-$node_arch-$node_version.tgz" -C "$work/node"
  cp -a "$work/node/package/bin" "$work/node/package/include" "$work/node/package/share" "$root/usr/local/"
  tar -xzf "$work/npm-$STAND_IN_NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  ln -sf node "$root/usr/local/bin/nodejs"
  # The base image's entrypoint: runs node for a first argument that is an option or a script file.
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
case "$1" in
  -*) set -- node "$@" ;;
  *) if [ -f "$1" ] && ! command -v "$1" >/dev/null 2>&1; then set -- node "$@"; fi ;;
esac
exec "$@"
EOF
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  local chroot_bin; chroot_bin=$(command -v chroot) || die "chroot not found"
  in_root() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$chroot_bin" "$root" "$@"; }
  in_root /bin/sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  log "stand-in: node $(in_root node --version), npm $(in_root npm --version)"
  rm -rf "$root"/root/.npm
  tar -C "$root" -cf "$work/rootfs.tar" .
  local env_path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  local note="stand-in for $base made by scripts/image-test.sh"
  if [[ $engine == docker ]]; then
    docker import --change "ENV $env_path" --change "ENV NODE_VERSION=$node_version" \
      --change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["node"]' \
      --change "LABEL org.opencontainers.image.description=\"$note\"" "$work/rootfs.tar" "$base_fq" >/dev/null
  else
    local ctr
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
    buildah config --env "$env_path" --env "NODE_VERSION=$node_version" --entrypoint '["docker-entrypoint.sh"]' \
      --cmd node --label "org.opencontainers.image.description=$note" "$ctr"
    buildah commit --quiet --rm "$ctr" "$base_fq" >/dev/null
  fi
  rm -rf "$root" "$work/rootfs.tar" "$work/node" "$work"/*.tgz
}

base_kind=local
if [[ $BASE_IMAGE_SOURCE == stand-in ]] || ! image_exists "$base_fq"; then
  if [[ $BASE_IMAGE_SOURCE != stand-in ]] && { log "pulling $base_fq"; timeout 300 "$engine" pull -q "$base_fq" >/dev/null 2>&1; }; then
    base_kind=pulled
  elif [[ $BASE_IMAGE_SOURCE == pull ]]; then
    die "cannot pull $base_fq"
  else
    [[ $BASE_IMAGE_SOURCE == stand-in ]] || log "cannot pull $base_fq"
    t0=$(date +%s)
    make_stand_in
    log "stand-in made in $(($(date +%s) - t0)) s"
    base_kind=stand-in
  fi
fi
if [[ $base_kind == local ]] && "$engine" image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$base_fq" 2>/dev/null | grep -q 'stand-in'; then
  base_kind="stand-in (made earlier)"
fi
log "base image: $base_fq ($base_kind)"

# --- build --------------------------------------------------------------------------------------
version=$(node -p "require('./package.json').version")
build_args=(--build-arg "VERSION=$version")
revision=$(git rev-parse HEAD 2>/dev/null || true)
[[ -n $revision ]] && build_args+=(--build-arg "REVISION=$revision")
# The source label: the clone's origin when it is a web repository (git@host:path as https).
origin=$(git remote get-url origin 2>/dev/null || true)
case "$origin" in
  git@*:*) origin=${origin#git@}; origin=https://${origin%%:*}/${origin#*:} ;;
esac
[[ $origin == https://* ]] && build_args+=(--build-arg "SOURCE_URL=${origin%.git}")

build_flags=()
if [[ $engine == podman ]]; then
  # A registry reached through a TLS-intercepting proxy or a mirror: give the build's npm this host's
  # CA bundle and registry through a mounted user npmrc (buildah mounts it into every RUN step only).
  ca_bundle=$work/build-ca.pem
  : >"$ca_bundle"
  npm_cafile=$(cd / && npm config get cafile 2>/dev/null || true)
  [[ -f "$npm_cafile" ]] && cat "$npm_cafile" >>"$ca_bundle"
  [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -f "$NODE_EXTRA_CA_CERTS" ]] && cat "$NODE_EXTRA_CA_CERTS" >>"$ca_bundle"
  registry=$(cd / && npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)
  : >"$work/npmrc"
  [[ $registry != https://registry.npmjs.org/ ]] && echo "registry=$registry" >>"$work/npmrc"
  if [[ -s $ca_bundle ]]; then
    echo "cafile=/root/.npm-build-ca.pem" >>"$work/npmrc"
    build_flags+=(-v "$ca_bundle:/root/.npm-build-ca.pem:ro")
  fi
  [[ -s $work/npmrc ]] && build_flags+=(-v "$work/npmrc:/root/.npmrc:ro")
fi

log "building $IMAGE with $engine"
previous=$("$engine" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
t0=$(date +%s)
if [[ $engine == docker ]]; then
  docker build --pull=false --force-rm -t "$IMAGE" "${build_args[@]}" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "docker build failed"; }
else
  buildah bud --pull=never --no-cache --force-rm --isolation=chroot --format=oci -t "$IMAGE" "${build_flags[@]}" "${build_args[@]}" . >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log" >&2; die "buildah bud failed"; }
fi
build_seconds=$(($(date +%s) - t0))
log "built in $build_seconds s"
# The image this tag named before is left untagged by the build: remove it (if nothing uses it).
if [[ -n $previous && $previous != "$("$engine" image inspect -f '{{.Id}}' "$IMAGE")" ]]; then
  "$engine" rmi "$previous" >/dev/null 2>&1 || true
fi

# --- image metadata -----------------------------------------------------------------------------
inspect() { "$engine" image inspect -f "$1" "$IMAGE"; }
size=$(inspect '{{.Size}}')
base_size=$("$engine" image inspect -f '{{.Size}}' "$base_fq")
user=$(inspect '{{.Config.User}}')
[[ $user =~ ^[0-9]+(:[0-9]+)?$ && ${user%%:*} -ge 10000 ]] || die "image user is '$user', not a numeric non-root UID"
# No HEALTHCHECK (Kubernetes probes the pod). The OCI format cannot carry one, so read the Dockerfile too.
healthcheck=$(inspect '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' 2>/dev/null || true)
[[ -z $healthcheck || $healthcheck == '[]' || $healthcheck == '<no value>' ]] || die "image has a HEALTHCHECK ($healthcheck); Kubernetes probes it instead"
! grep -qiE '^[[:space:]]*HEALTHCHECK[[:space:]]' Dockerfile || die "the Dockerfile has a HEALTHCHECK; Kubernetes probes the pod instead"
for label in source version licenses revision; do
  value=$(inspect "{{index .Config.Labels \"org.opencontainers.image.$label\"}}")
  log "label org.opencontainers.image.$label=$value"
  [[ $label == source || $label == revision || -n $value ]] || die "label org.opencontainers.image.$label is empty"
done
[[ $(inspect '{{index .Config.Labels "org.opencontainers.image.version"}}') == "$version" ]] || die "version label is not package.json's $version"
telemetry=$(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed -n 's/^ORT_DISABLE_TELEMETRY=//p')
[[ $telemetry == 1 ]] || die "ORT_DISABLE_TELEMETRY is not 1 in the image"

# --- run ----------------------------------------------------------------------------------------
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
port=$(free_port)
metrics_port=$(free_port)
container=meshserve-image-test-$$
# As the Deployment runs it: read-only root filesystem, a numeric non-root user, /tmp writable.
"$engine" run -d --name "$container" --read-only --tmpfs /tmp --user 10001:10001 "${run_flags[@]}" \
  -p "127.0.0.1:$port:8080" -p "127.0.0.1:$metrics_port:9090" "$IMAGE" >/dev/null || die "$engine run failed"
log "running $container: API on 127.0.0.1:$port, metrics on 127.0.0.1:$metrics_port"

checks=0
pass() { checks=$((checks + 1)); log "ok $checks - $*"; }
# Polls URL until it answers STATUS (the container may still be loading); fails after SECONDS.
wait_for() {
  local url=$1 status=$2 seconds=$3 got="" end=$(($(date +%s) + $3))
  while (($(date +%s) < end)); do
    got=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "$url" || true)
    [[ $got == "$status" ]] && return 0
    [[ $("$engine" inspect -f '{{.State.Running}}' "$container") == true ]] || { "$engine" logs "$container" >&2; die "the container stopped"; }
    sleep 0.5
  done
  "$engine" logs "$container" >&2
  die "$url answered '$got', not $status, within $seconds s"
}
command -v curl >/dev/null 2>&1 || die "curl is needed for the checks"

t0=$(date +%s)
wait_for "http://127.0.0.1:$port/healthz" 200 60
pass "GET /healthz 200 $(cat "$work/body") ($(($(date +%s) - t0)) s after start)"
wait_for "http://127.0.0.1:$port/ready" 200 60
pass "GET /ready 200 $(cat "$work/body") ($(($(date +%s) - t0)) s after start)"
predict=$(curl -s -w '\n%{http_code}' --max-time 10 -H 'content-type: application/json' -d '{"instances":[[5.1,3.5,1.4,0.2]]}' "http://127.0.0.1:$port/predict")
[[ ${predict##*$'\n'} == 200 && ${predict%$'\n'*} == *'"predictions"'* ]] || die "POST /predict: $predict"
pass "POST /predict 200 $(echo "${predict%$'\n'*}" | cut -c1-120)"
metrics=$(curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics")
grep -q '^meshserve_http_requests_total{.*route="/predict".*} ' <<<"$metrics" || die "/metrics has no meshserve_http_requests_total for /predict"
pass "GET /metrics 200, $(grep -c '^meshserve_' <<<"$metrics") meshserve_ samples"

t0=$(date +%s)
"$engine" stop -t 30 "$container" >/dev/null
stop_seconds=$(($(date +%s) - t0))
exit_code=$("$engine" inspect -f '{{.State.ExitCode}}' "$container")
"$engine" logs "$container" >"$work/logs" 2>&1
[[ $exit_code == 0 ]] || { cat "$work/logs" >&2; die "exit code $exit_code after SIGTERM"; }
grep -q '"msg":"shutdown complete"' "$work/logs" || { cat "$work/logs" >&2; die "no 'shutdown complete' log line"; }
pass "SIGTERM: 'shutdown complete', exit code 0, stopped in $stop_seconds s"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.trim());
  const bad = lines.filter((l) => { try { return typeof JSON.parse(l) !== "object"; } catch { return true; } });
  if (bad.length) { console.error(bad.join("\n")); process.exit(1); }
  console.log(lines.length);
' "$work/logs" >"$work/nlines" || die "log lines that are not JSON (above)"
pass "logs: all $(cat "$work/nlines") lines are JSON (no native library output)"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
log "image $IMAGE: $(mb "$size") ($(mb "$base_size") base $base_fq, $(mb $((size - base_size))) meshserve layers)"
log "build $build_seconds s; total $(($(date +%s) - started)) s; exit code 0"
echo "image-test: $checks passed, 0 failed"
