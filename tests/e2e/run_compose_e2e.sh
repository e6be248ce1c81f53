#!/usr/bin/env bash
# End-to-end test of the containers (`make e2e`):
#   1. docker compose up -d --build (api + ui), wait until both are healthy (bounded);
#   2. POST a synthesized WAV to the API through the published port, check the JSON;
#   3. GET the UI's /_stcore/health through its published port;
#   3b. build the batch image, run the `batch` profile (ser-batch on Ray) on a synthesized
#      archive mounted read-only (good, broken and silent files), check the results table and
#      the errors it names, then run it again and check that it resumes (skips everything);
#   4. build the training image, run the `train` profile with --quick on a tiny synthesized
#      RAVDESS-layout corpus into a temporary directory (never into ./models), check that an
#      .onnx came out, and serve it with the API image to prove it loads and predicts;
#   5. docker compose down -v, always (trap).
# Skips (exit 0) with a reason when no Docker engine is reachable.
#
# Settings: E2E_API_PORT / E2E_UI_PORT (host ports; default 8000 / 8501, or a free port when
# those are taken), E2E_HEALTH_TIMEOUT (s, default 240), E2E_TRAIN_TIMEOUT (s, default 1200),
# E2E_BATCH_TIMEOUT (s, default 600), E2E_SKIP_BATCH=1,
# E2E_SKIP_TRAIN=1 (only the serving part), E2E_KEEP=1 (leave the stack up for debugging).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ROOT=$PWD
CLIENT="$ROOT/tests/e2e/e2e_client.py"
PROJECT=ser-e2e
STARTED=$SECONDS

log() { printf '[e2e %4ds] %s\n' "$((SECONDS - STARTED))" "$*"; }
skip() {
    echo "SKIP: docker compose e2e not run: $*"
    exit 0
}

# ---------------------------------------------------------------- is there an engine at all?
command -v docker >/dev/null 2>&1 ||
    skip "no 'docker' command (run ../shared/docker/setup.sh as root to install the engine)"
timeout 30 docker info >/dev/null 2>&1 ||
    skip "no Docker engine reachable ('docker info' failed; is dockerd running, may you use it?)"
docker compose version >/dev/null 2>&1 ||
    skip "the Docker Compose v2 plugin is missing ('docker compose version' failed)"

TMP=$(mktemp -d /tmp/ser-e2e.XXXXXX)
chmod 755 "$TMP" # the containers run as uid 10001 and must read what is mounted from here
OVERRIDE="$TMP/compose.override.yml"
printf 'services: {}\n' >"$OVERRIDE"
TRAINED_API=""
FAILED_STEP=""
SUMMARY=()

compose() { docker compose -p "$PROJECT" -f docker-compose.yml -f "$OVERRIDE" "$@"; }

cleanup() {
    local rc=$?
    if [[ -n "$FAILED_STEP" ]]; then
        log "logs of the failed run:"
        compose --profile train --profile batch logs --no-color --tail=60 2>&1 | sed 's/^/    /'
        [[ -n "$TRAINED_API" ]] && docker logs --tail=40 "$TRAINED_API" 2>&1 | sed 's/^/    /'
    fi
    [[ -n "$TRAINED_API" ]] && docker rm -f "$TRAINED_API" >/dev/null 2>&1
    if [[ "${E2E_KEEP:-0}" == 1 ]]; then
        log "E2E_KEEP=1: stack left running (docker compose -p $PROJECT down -v to remove)"
    else
        compose --profile train --profile batch down -v --remove-orphans >/dev/null 2>&1
    fi
    rm -rf "$TMP" 2>/dev/null || docker run --rm -v "$TMP:/x" python:3.11-slim rm -rf /x/* 2>/dev/null
    rm -rf "$TMP" 2>/dev/null
    if [[ -n "$FAILED_STEP" ]]; then
        echo "E2E FAIL: $FAILED_STEP (after $((SECONDS - STARTED)) s)"
        exit 1
    fi
    echo "E2E PASS: ${SUMMARY[*]} ($((SECONDS - STARTED)) s)"
    exit "$rc"
}
trap cleanup EXIT
trap 'FAILED_STEP="interrupted"; exit 130' INT TERM

fail() {
    FAILED_STEP="$*"
    exit 1
}

# Build the image of a compose profile's service of the same name (train, batch).
build_profile() {
    local service=$1 t0=$SECONDS
    log "building the $service image"
    compose --profile "$service" build "$service" 2>&1 | tail -n 5 | sed 's/^/    /'
    [[ ${PIPESTATUS[0]} == 0 ]] || fail "docker compose build $service"
    log "$service image built in $((SECONDS - t0)) s"
}

# The uid:gid a container that writes into host folder $1 should run as: the image's own
# non-root user (10001) when we are root (the folder is opened to it), else ours.
writer_user() {
    if [[ $(id -u) == 0 ]]; then
        chmod 777 "$1"
        echo 10001:10001
    else
        echo "$(id -u):$(id -g)"
    fi
}

# A port to publish on: the wanted one if nothing listens there, else a free one.
pick_port() {
    local want=$1
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$want") 2>/dev/null; then
        echo "$want"
        return
    fi
    local port
    for port in $(seq $((want + 10000)) $((want + 10100))); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "$want"
}
API_PORT=${E2E_API_PORT:-$(pick_port 8000)}
UI_PORT=${E2E_UI_PORT:-$(pick_port 8501)}
export SER_BIND_ADDRESS=127.0.0.1 SER_API_PORT=$API_PORT SER_UI_PORT=$UI_PORT
API=http://127.0.0.1:$API_PORT
UI=http://127.0.0.1:$UI_PORT

# The helper needs only the standard library: the host's python3, else the API image's.
if command -v python3 >/dev/null 2>&1; then
    client() { python3 "$CLIENT" "$@"; }
else
    client() {
        docker run --rm -i --network host -v "$TMP:$TMP" --user "$(id -u):$(id -g)" \
            ser-api:latest python - "$@" <"$CLIENT"
    }
fi

# ---------------------------------------------------------------- model to serve
# The API image bakes in models/. Before the shipped model exists, serve a tiny stand-in
# (built here with the test helper, mounted read-only) so the containers can still be tested.
mkdir -p models # COPY models/ needs the directory, even empty
if [[ ! -f models/ser_model.onnx ]]; then
    [[ -x .venv/bin/python ]] ||
        fail "no models/ser_model.onnx and no .venv to build a stand-in (run 'make setup')"
    log "no shipped models/ser_model.onnx yet: serving a tiny stand-in model (tests/support)"
    mkdir -p "$TMP/standin"
    .venv/bin/python -c "import sys; from pathlib import Path; \
from tests.support.tiny_model import build_tiny_model; \
build_tiny_model(Path(sys.argv[1]) / 'ser_model.onnx')" "$TMP/standin" ||
        fail "could not build the stand-in model"
    chmod -R a+rX "$TMP/standin"
    printf 'services:\n  api:\n    volumes:\n      - "%s:/app/models:ro"\n  batch:\n    volumes:\n      - "%s:/app/models:ro"\n' \
        "$TMP/standin" "$TMP/standin" >"$OVERRIDE"
    SUMMARY+=("[stand-in model]")
fi

# ---------------------------------------------------------------- 1. build and start
log "docker compose up -d --build (api on :$API_PORT, ui on :$UI_PORT)"
t0=$SECONDS
compose up -d --build --quiet-pull api ui 2>&1 | tail -n 25 | sed 's/^/    /'
[[ ${PIPESTATUS[0]} == 0 ]] || fail "docker compose up -d --build"
log "built and started in $((SECONDS - t0)) s; waiting for healthy"

deadline=$((SECONDS + ${E2E_HEALTH_TIMEOUT:-240}))
for service in api ui; do
    while :; do
        cid=$(compose ps -a -q "$service")
        state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' \
            "$cid" 2>/dev/null)
        [[ "$state" == running/healthy ]] && break
        [[ "$state" == exited/* || "$state" == dead/* ]] && fail "$service container stopped ($state)"
        ((SECONDS < deadline)) || fail "$service not healthy within ${E2E_HEALTH_TIMEOUT:-240} s ($state)"
        sleep 2
    done
    log "$service healthy"
done

# ---------------------------------------------------------------- 2. API
client wav "$TMP/clip.wav" || fail "could not synthesize a WAV"
out=$(client predict "$API/predict" "$TMP/clip.wav" 2>&1) || fail "POST /predict: $out"
log "POST $API/predict -> $out"
SUMMARY+=("api /predict ok ($out)")

# Speaker and domain profiles (issues 24, 30): written to the api's volume, still there
# after a restart, gone after DELETE.
sid=$(client enrol "$API" "$TMP/clip.wav" 2>&1) || fail "POST /speakers: $sid"
log "POST $API/speakers -> profile $sid"
did=$(client enrol "$API" "$TMP/clip.wav" domains 2>&1) || fail "POST /domains: $did"
log "POST $API/domains -> profile $did"
compose restart api 2>&1 | sed 's/^/    /'
out=$(client wait "$API/health" 120 2>&1) || fail "api not back after restart: $out"
out=$(client speaker "$API" "$sid" 200 2>&1) || fail "profile lost across a restart: $out"
log "after docker compose restart api: $out"
out=$(client speaker "$API" "$did" 200 domains 2>&1) || fail "domain lost across a restart: $out"
log "after docker compose restart api: $out"
out=$(client delete "$API" "$sid" 2>&1) || fail "$out"
out=$(client speaker "$API" "$sid" 404 2>&1) || fail "profile still there after DELETE: $out"
out=$(client delete "$API" "$did" domains 2>&1) || fail "$out"
out=$(client speaker "$API" "$did" 404 domains 2>&1) || fail "domain still there after DELETE: $out"
SUMMARY+=("api /speakers and /domains ok (enrolled, survived a restart, deleted)")

# ---------------------------------------------------------------- 3. UI
out=$(client get "$UI/_stcore/health" 2>&1) || fail "UI health: $out"
log "$out"
# The UI reaches the API by service name (SER_API_URL=http://api:8000) on the compose network.
out=$(compose exec -T ui python -c "import os, urllib.request as u; \
print(os.environ['SER_API_URL'], u.urlopen(os.environ['SER_API_URL'] + '/health', timeout=5).status)" 2>&1) ||
    fail "the ui container cannot reach the API: $out"
log "from the ui container: $out"
SUMMARY+=("ui /_stcore/health ok, ui->api ok")

# ---------------------------------------------------------------- 3b. batch job
if [[ "${E2E_SKIP_BATCH:-0}" == 1 ]]; then
    SUMMARY+=("batch skipped (E2E_SKIP_BATCH=1)")
else
    build_profile batch

    mkdir -p "$TMP/archive" "$TMP/results"
    client archive "$TMP/archive" >/dev/null || fail "could not synthesize the batch archive"
    chmod -R a+rX "$TMP/archive"
    batch_user=$(writer_user "$TMP/results")
    batch_run() {
        SER_BATCH_IN="$TMP/archive" SER_BATCH_OUT="$TMP/results" SER_BATCH_USER="$batch_user" \
            timeout "${E2E_BATCH_TIMEOUT:-600}" docker compose -p "$PROJECT" -f docker-compose.yml \
            -f "$OVERRIDE" --profile batch run --rm -T batch \
            /data --out /results/results.parquet --segments --workers 2 "$@"
    }
    t0=$SECONDS
    batch_run >"$TMP/batch.log" 2>&1
    rc=$?
    tail -n 8 "$TMP/batch.log" | sed 's/^/    /'
    [[ $rc == 0 ]] || fail "batch container exited with $rc"
    grep -q "classified: 3  errors: 2" "$TMP/batch.log" ||
        fail "batch summary does not say 3 classified and 2 errors"
    grep -q "undecodable 1" "$TMP/batch.log" && grep -q "silent 1" "$TMP/batch.log" ||
        fail "batch summary does not name the undecodable and the silent file"
    rows=$(docker run --rm --entrypoint python -v "$TMP/results:/results:ro" ser-batch:latest -c \
        "import pyarrow.parquet as pq; t = pq.read_table('/results/results.parquet'); \
s = pq.read_table('/results/results.segments.parquet'); \
assert t.num_rows == 5 and t['error'].null_count == 3 and s.num_rows > 0, (t.num_rows, s.num_rows); \
print(t.num_rows, 'rows,', s.num_rows, 'segments')" 2>&1) || fail "batch results table: $rows"
    log "batch scored the archive in $((SECONDS - t0)) s: $rows"

    batch_run >"$TMP/batch2.log" 2>&1 || fail "second batch run (resume) failed"
    grep -q "5 already in" "$TMP/batch2.log" || {
        tail -n 5 "$TMP/batch2.log" | sed 's/^/    /'
        fail "second batch run did not skip the 5 files already scored"
    }
    log "batch rerun skipped the 5 files already scored"
    SUMMARY+=("batch ok ($rows; rerun resumed)")
fi

# ---------------------------------------------------------------- 4. training container
if [[ "${E2E_SKIP_TRAIN:-0}" == 1 ]]; then
    SUMMARY+=("train skipped (E2E_SKIP_TRAIN=1)")
    exit 0
fi
build_profile train

if ! help=$(docker run --rm ser-train:latest train --help 2>&1); then
    echo "    $help" | tail -n 5
    log "SKIP train step: 'ser-train train --help' fails in the training image (CLI not there yet?)"
    SUMMARY+=("train SKIPPED (ser-train CLI unavailable in the image)")
    exit 0
fi
quick=()
if grep -q -- '--quick' <<<"$help"; then quick=(--quick); else log "ser-train train has no --quick: full run"; fi

mkdir -p "$TMP/data" "$TMP/out"
client dataset "$TMP/data" >/dev/null || fail "could not synthesize the training corpus"
chmod -R a+rX "$TMP/data"
train_user=$(writer_user "$TMP/out")
log "ser-train train ${quick[*]} on $(find "$TMP/data" -name '*.wav' | wc -l) synthesized files (user $train_user)"
t0=$SECONDS
SER_DATA_DIR="$TMP/data" SER_MODELS_OUT="$TMP/out" SER_TRAIN_USER="$train_user" \
    timeout "${E2E_TRAIN_TIMEOUT:-1200}" docker compose -p "$PROJECT" -f docker-compose.yml \
    --profile train run --rm -T train train --data /data --out /models "${quick[@]}" \
    >"$TMP/train.log" 2>&1
rc=$?
tail -n 15 "$TMP/train.log" | sed 's/^/    /'
[[ $rc == 0 ]] || fail "training container exited with $rc"
onnx=$(find "$TMP/out" -name '*.onnx' | head -n 1)
[[ -n "$onnx" ]] || fail "training container wrote no .onnx into its output directory"
log "trained in $((SECONDS - t0)) s: $(find "$TMP/out" -mindepth 1 -maxdepth 1 -printf '%f ')"

# Serve the freshly trained model with the API image: it must load and answer.
chmod -R a+rX "$TMP/out"
port=$(pick_port 18000)
TRAINED_API=ser-e2e-trained-api-$$
docker run -d --name "$TRAINED_API" --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges:true -p "127.0.0.1:$port:8000" \
    -v "$(dirname "$onnx"):/app/models:ro" -e SER_MODEL_PATH="/app/models/$(basename "$onnx")" \
    -e SER_WORKERS=1 ser-api:latest >/dev/null || fail "could not start the API on the trained model"
client wait "http://127.0.0.1:$port/health" 120 || fail "API did not come up on the trained model"
out=$(client predict "http://127.0.0.1:$port/predict" "$TMP/clip.wav" 2>&1) ||
    fail "POST /predict on the trained model: $out"
log "trained model served: $out"
SUMMARY+=("train --quick ok, its model serves ($out)")
