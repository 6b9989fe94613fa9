#!/usr/bin/env bash
# Prove the Docker image: build it, run it on a data folder with a config that
# watches a page served on this machine, wait for healthy, check a capture was
# made and the UI answers, stop it, run a new container on the same data and
# check the captures are still there. Then the team store on the same image: a
# PostgreSQL (Debian's, a throwaway cluster on this machine), `watcher dispatch`, a
# `watcher worker` and `watcher serve`, each its own container; a page must be captured
# through the worker, its blobs in the shared folder and its rows in PostgreSQL, and shown
# by the UI. Exits non-zero when any step fails.
#
# No Docker engine runs here by default and no registry is reachable: this uses
# Debian's docker.io (dockerd started by hand) and a base image made with
# debootstrap, imported as $BASE (the Dockerfile's FROM is a build argument).
# Every request stays on 127.0.0.1: the container runs with --network host.
#
#   timeout 900 bash .ci/docker-check.sh          (DOCKER_CHROMIUM=1: also build the
#                                                   chromium variant and report its size)
set -euo pipefail

CTX=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=localhost/watcher:ci
NAME=watcher-ci
TEAM=(watcher-ci-dispatch watcher-ci-worker watcher-ci-web)
BASE=${BASE:-localhost/debian-python-base:bookworm}
WORK=${WORK:-/tmp/watcher-docker-ci}
DOCKER=/usr/bin/docker # Debian's client has BuildKit built in (a newer static one may lack buildx)
DATA_UID=10001

T0=$(date +%s)
log() { printf '[docker-ci +%ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
fail() {
  log "FAILED: $*"
  for c in "$NAME" "${TEAM[@]}"; do
    "$DOCKER" inspect "$c" >/dev/null 2>&1 && { echo "--- $c"; "$DOCKER" logs "$c" 2>&1 | tail -30; }
  done
  exit 1
}
mkdir -p "$WORK"
DOCKERD_PID=
SITE_PID=
PG_DIR=

cleanup() {
  set +e
  "$DOCKER" rm -f "$NAME" "${TEAM[@]}" >/dev/null 2>&1
  [ -n "$SITE_PID" ] && kill "$SITE_PID" 2>/dev/null
  if [ -n "$PG_DIR" ]; then pg_as pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$PG_DIR"; fi
  if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null; fi
  rm -rf "$WORK/rootfs" "$WORK/data" "$WORK/team-data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
pg_as() { # PostgreSQL refuses root: its commands run as nobody
  local tool=$PG_BIN/$1
  shift
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$tool" "$@"; else "$tool" "$@"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 1. the engine: Debian's docker.io, dockerd started by hand (no systemd)
export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || [ ! -x "$DOCKER" ]; then
  log "apt-get install docker.io debootstrap"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io debootstrap curl >/dev/null
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd"
  dockerd >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 120); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$DOCKER" info >/dev/null 2>&1 || { tail -50 "$WORK/dockerd.log"; exit 1; }
fi

# 2. a local stand-in for python:3.12-slim-bookworm (no registry here)
if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  R=$WORK/rootfs
  rm -rf "$R"
  log "debootstrap bookworm (base image)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,netbase,tzdata \
    bookworm "$R" >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log"; exit 1; }
  # this machine's egress proxy re-signs TLS: the build's pip must trust its CA (CI-only image)
  for f in $(find /etc/ssl/certs -maxdepth 1 -type f -name '*.pem'); do
    cp "$f" "$R/usr/local/share/ca-certificates/$(basename "$f" .pem).crt"
  done
  chroot "$R" update-ca-certificates >/dev/null 2>&1
  rm -f "$R"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf python3 "$R/usr/bin/python"
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_ROOT_USER_ACTION=ignore chroot "$R" \
    sh -c 'set -- /usr/share/python-wheels/pip-*.whl; python3 "$1/pip" install -q --no-cache-dir --upgrade pip'
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/root/.cache \
    "$R"/usr/share/doc/* "$R"/usr/share/man/*
  log "docker import $BASE"
  tar -C "$R" -c . | "$DOCKER" import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["python3"]' - "$BASE" >/dev/null
  rm -rf "$R"
fi

# 3. build
log "docker build"
B0=$(date +%s)
DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain --network host --build-arg BASE="$BASE" \
  -t "$IMAGE" "$CTX" >"$WORK/build.log" 2>&1 || { tail -60 "$WORK/build.log"; exit 1; }
BUILD_S=$(($(date +%s) - B0))
SIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
log "built in ${BUILD_S}s, image $((SIZE / 1000000)) MB"

# 4. a page to watch, served on this machine, and a config that watches it
SITE=$WORK/site
mkdir -p "$SITE"
printf '%s' '<html><head><meta charset="utf-8"><title>工信部 通知公告</title></head><body><p>关于推动船舶工业高质量发展的通知</p></body></html>' >"$SITE/notice.html"
PAGE_PORT=$(free_port)
APP_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$SITE" "$PAGE_PORT" >"$WORK/site.log" 2>&1 &
SITE_PID=$!
CONFIG=$WORK/config
mkdir -p "$CONFIG/notifiers"
cat >"$CONFIG/targets.yaml" <<YAML
settings: {host_delay: 0}
keywords:
  shipbuilding: [船舶]
targets:
  - name: ci-page
    title: 工信部 通知公告
    url: http://127.0.0.1:$PAGE_PORT/notice.html
    interval: 1m
YAML
DATA=$WORK/data
rm -rf "$DATA"
mkdir -p "$DATA"
chown "$DATA_UID" "$DATA"

start() {
  "$DOCKER" rm -f "$NAME" >/dev/null 2>&1 || true
  "$DOCKER" run -d --name "$NAME" --network host -e WATCHER_PORT="$APP_PORT" \
    -v "$DATA:/data" -v "$CONFIG:/config:ro" "$IMAGE" >/dev/null
}
wait_healthy() {
  for _ in $(seq 1 240); do
    [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited"
    case $("$DOCKER" inspect -f '{{.State.Health.Status}}' "$NAME") in
      healthy) return 0 ;;
      unhealthy) "$DOCKER" inspect -f '{{json .State.Health}}' "$NAME"; fail "unhealthy" ;;
    esac
    sleep 0.25
  done
  fail "not healthy within 60 s"
}
get() { curl -fsS -m 5 "http://127.0.0.1:$APP_PORT$1"; }
captures() { get /api/targets/ci-page/captures | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'; }

# 5. run #1: healthy, a capture made, the UI answers
log "run #1"
R0=$(date +%s.%N)
start
wait_healthy
HEALTHY_S=$(python3 -c "import time; print(round(time.time() - $R0, 1))")
log "healthy ${HEALTHY_S}s after docker run"
for _ in $(seq 1 120); do
  n=$(captures 2>/dev/null || echo 0)
  [ "$n" -ge 1 ] && break
  sleep 0.5
done
[ "${n:-0}" -ge 1 ] || fail "no capture of the watched page after 60 s"
get / | grep -q '工信部 通知公告' || fail "the dashboard does not list the target"
get "/t/ci-page" | grep -q 'captures' || fail "the target page does not answer"
[ "$(find "$DATA" -name 'index.sqlite' | wc -l)" = 1 ] || fail "no index in the data folder"
sleep 5
MEM=$("$DOCKER" stats --no-stream --format '{{.MemUsage}}' "$NAME")
log "captures: $n; idle memory: $MEM"

S0=$(date +%s.%N)
"$DOCKER" stop -t 10 "$NAME" >/dev/null
STOP_S=$(python3 -c "import time; print(round(time.time() - $S0, 1))")
[ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "exit code after SIGTERM"
python3 -c "import sys; sys.exit(0 if $STOP_S < 8 else 1)" || fail "docker stop took ${STOP_S}s (SIGTERM ignored?)"
"$DOCKER" rm "$NAME" >/dev/null
log "stopped cleanly in ${STOP_S}s"

# 6. run #2 on the same data: the captures are still there
log "run #2 (same data)"
start
wait_healthy
m=$(captures)
[ "$m" -ge "$n" ] || fail "captures lost: $n before, $m after"
log "captures after restart: $m"
"$DOCKER" stop -t 10 "$NAME" >/dev/null

# 7. the team store on the same image: PostgreSQL, a dispatcher, a worker and the UI
if [ -z "$PG_BIN" ]; then
  log "apt-get install postgresql"
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
log "team: PostgreSQL $("$PG_BIN/postgres" --version | grep -oE '[0-9]+\.[0-9]+' | head -1) (a throwaway cluster)"
PG_DIR=$(mktemp -d /tmp/watcher-ci-pg.XXXXXX)
chmod 777 "$PG_DIR"
PG_PORT=$(free_port)
pg_as initdb -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
  { tail -20 "$WORK/initdb.log"; fail "initdb"; }
pg_as pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR" >/dev/null ||
  { tail -20 "$PG_DIR/log"; fail "pg_ctl start"; }
PG_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
TEAM_DATA=$WORK/team-data # the blobs, shared by the containers (a volume in compose)
rm -rf "$TEAM_DATA"
mkdir -p "$TEAM_DATA"
chown "$DATA_UID" "$TEAM_DATA"
TEAM_PORT=$(free_port)
team_run() { # NAME, then the command; one image, the team store's settings
  local name=$1
  shift
  "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true
  "$DOCKER" run -d --name "$name" --network host -e WATCHER_STORE="$PG_URL" \
    -e WATCHER_QUEUE="$PG_URL" -e WATCHER_PORT="$TEAM_PORT" -v "$TEAM_DATA:/data" \
    -v "$CONFIG:/config:ro" "$@" >/dev/null
}
T1=$(date +%s.%N)
team_run watcher-ci-dispatch --no-healthcheck "$IMAGE" watcher dispatch
team_run watcher-ci-worker --no-healthcheck "$IMAGE" watcher worker
team_run watcher-ci-web "$IMAGE" watcher serve
NAME=watcher-ci-web wait_healthy
TEAM_HEALTHY_S=$(python3 -c "import time; print(round(time.time() - $T1, 1))")
APP_PORT=$TEAM_PORT
for _ in $(seq 1 240); do
  t=$(captures 2>/dev/null || echo 0)
  [ "$t" -ge 1 ] && break
  sleep 0.5
done
[ "${t:-0}" -ge 1 ] || fail "team: no capture through the worker after 120 s"
TEAM_CAPTURE_S=$(python3 -c "import time; print(round(time.time() - $T1, 1))")
get / | grep -q '工信部 通知公告' || fail "team: the dashboard does not list the target"
get "/t/ci-page" | grep -q 'captures' || fail "team: the target page does not answer"
"$DOCKER" logs watcher-ci-worker 2>&1 | grep -q 'ci-page' || fail "team: the worker's log names no check of ci-page"
[ "$(find "$TEAM_DATA" -name 'index.sqlite' | wc -l)" = 0 ] || fail "team: an SQLite index was made"
[ "$(find "$TEAM_DATA/blobs" -name '*.zst' | wc -l)" -ge 1 ] || fail "team: no blob in the shared folder"
rows=$(pg_as psql -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres -Atc 'SELECT count(*) FROM captures')
[ "$rows" -ge 1 ] || fail "team: no capture row in PostgreSQL"
sleep 3
TEAM_MEM=$("$DOCKER" stats --no-stream --format '{{.Name}} {{.MemUsage}}' "${TEAM[@]}" | awk '{print $1 "=" $2}' | tr '\n' ' ')
for c in "${TEAM[@]}"; do
  "$DOCKER" stop -t 10 "$c" >/dev/null
  [ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$c")" = 0 ] || fail "team: $c's exit code after SIGTERM"
done
log "team: UI healthy ${TEAM_HEALTHY_S}s, capture through the worker ${TEAM_CAPTURE_S}s after the first docker run; $rows capture row(s) in PostgreSQL; idle memory: $TEAM_MEM"

if [ "${DOCKER_CHROMIUM:-0}" = 1 ]; then
  log "docker build (CHROMIUM=1)"
  DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain --network host --build-arg BASE="$BASE" \
    --build-arg CHROMIUM=1 -t "$IMAGE-chromium" "$CTX" >"$WORK/build-chromium.log" 2>&1 ||
    { tail -60 "$WORK/build-chromium.log"; exit 1; }
  CSIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE-chromium")
  log "chromium variant: $((CSIZE / 1000000)) MB"
fi
BSIZE=$("$DOCKER" image inspect -f '{{.Size}}' "$BASE")
log "OK: image $((SIZE / 1000000)) MB (base $((BSIZE / 1000000)) MB), build ${BUILD_S}s, healthy ${HEALTHY_S}s, idle $MEM, stop ${STOP_S}s; team: capture ${TEAM_CAPTURE_S}s, $TEAM_MEM"
