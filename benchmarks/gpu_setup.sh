# Set-up shared by the prepared GPU sessions (gpu_session.sh, gpu_progan.sh), sourced with the script's
# arguments: DRY (1 after --dry-run), ROOT (the repository, made the working folder), OUT (required: the
# folder for the tables), PY (PYTHON, default python3), LOG ($OUT/session.log, emptied); wheels given in
# .whl/ are installed to /tmp/site first; the machine (date, load, GPU, python, torch, CUDA) opens the log;
# ``step`` runs one step under a time limit and counts it in FAILED when it fails; ``collect_runs`` waits for the
# runs started side by side (PIDS, NAMES, TXTS) and moves each one's exit and last lines into the log.
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
: "${OUT:?set OUT to the folder for the tables}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
LOG="$OUT/session.log"
: > "$LOG"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >> "$LOG" 2>&1 && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$ROOT:${PYTHONPATH:-}"
if [ -z "${PGAN_DATA_DIR:-}" ] && [ -d .data/fashion-mnist ]; then export PGAN_DATA_DIR="$ROOT/.data/fashion-mnist"; fi
{
    date -u
    uptime
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
} >> "$LOG" 2>&1
FAILED=0
step() {   # step NAME LIMIT COMMAND...: run with a time limit, log the outcome
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit}s): $*" >> "$LOG"
    timeout --signal=TERM --kill-after=10 "$limit" "$@"
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s" >> "$LOG"
    [ $rc = 0 ] || FAILED=$((FAILED + 1))
    return 0
}
PIDS=()
NAMES=()
TXTS=()
collect_runs() {   # the runs started in the background: exit code and the output's last lines to the log, which
    local i rc     # keeps the files sent back from a GPU machine few (at most 8)
    for i in "${!PIDS[@]}"; do
        wait "${PIDS[$i]}"
        rc=$?
        { echo "== ${NAMES[$i]}: exit $rc"; tail -n 30 "${TXTS[$i]}"; } >> "$LOG"
        rm -f "${TXTS[$i]}"
        [ $rc = 0 ] || FAILED=$((FAILED + 1))
    done
}
