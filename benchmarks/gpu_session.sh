#!/usr/bin/env bash
# One prepared GPU session (under ten minutes on one CUDA GPU): every table goes to $OUT.
#
#   OUT=/some/folder benchmarks/gpu_session.sh            # on a CUDA machine
#   OUT=/tmp/dry benchmarks/gpu_session.sh --dry-run      # the same steps on the CPU, tiny sizes (tested in CI)
#
# Steps (each under its own time limit, so one slow step cannot eat the session):
#   1. machine: nvidia-smi, python, torch, CUDA                                   -> session.log
#   2. speed, batch 64: the plain PyTorch loop vs the kit's trainer, 30 s each:
#      img/s, seconds per Fashion-MNIST epoch, validation FID after 30 s, and the
#      shipped fashion-cgan's FID measured the same way                           -> train_speed.json
#   3. speed, large batch: the kit's trainer alone, batch 512, square-root LR
#      scaling with a 100-step warm-up, bf16, compile (CUDA graphs), 60 s of
#      training with the validation FID every 15 s (target: the shipped model's)  -> train_speed_large.json
#   4. the full cgan-fashion recipe on CUDA (4,000 steps, early stopping)        -> recipe.txt
#   5. the quick notebook suite on CUDA, once: with benchmarks/notebook_memory.py when it is there (each
#      notebook executed in a fresh kernel: seconds, errors, peak host and GPU memory, students per
#      80 GB GPU)                                                              -> notebook_memory.json/.txt
#      else pytest --nbval-lax (pass/fail and per-notebook seconds)            -> notebooks.txt
#
# Needs: the kit's Python dependencies (missing ones can be given as wheels in .whl/, installed to
# /tmp/site first), Fashion-MNIST (PGAN_DATA_DIR, else .data/fashion-mnist, else the system folder).
# PYTHON picks the interpreter (default python3). Exit code: the number of steps that failed.
set -u
source "$(dirname "$0")/gpu_setup.sh" "$@"
export PGAN_MODE=quick
"$PY" -c 'import nbval' 2>/dev/null || echo "nbval missing: the notebook step will fail (give its wheels in .whl/)" >> "$LOG"

if [ $DRY = 1 ]; then
    DEVICE=cpu; MODE=quick; BUDGET=3; LARGE_BUDGET=3; FID=100; LARGE_BATCH=128; STEPS="--steps 4"
    COMPILE=""; EVAL_EVERY=1; NOTEBOOKS="notebooks/00_data_tour.ipynb"
    T_SPEED=300; T_LARGE=300; T_RECIPE=300; T_NB=300
else   # worst case 100 + 130 + 90 + 240 s: under ten minutes with the start-up
    DEVICE=cuda; MODE=full; BUDGET=25; LARGE_BUDGET=60; FID=2000; LARGE_BATCH=512; STEPS=""
    COMPILE="--kit compile,channels_last"; EVAL_EVERY=15; NOTEBOOKS=""
    T_SPEED=100; T_LARGE=130; T_RECIPE=90; T_NB=240
fi
step speed "$T_SPEED" "$PY" benchmarks/train_speed.py --device $DEVICE --mode $MODE --budget $BUDGET \
    --fid-samples $FID --json "$OUT/train_speed.json" >> "$LOG" 2>&1
step speed-large "$T_LARGE" "$PY" benchmarks/train_speed.py --device $DEVICE --mode $MODE --budget $LARGE_BUDGET \
    --skip-plain --batch-size $LARGE_BATCH --lr-scaling sqrt --warmup-steps 100 $COMPILE --curve \
    --eval-every $EVAL_EVERY --fid-samples $FID --json "$OUT/train_speed_large.json" >> "$LOG" 2>&1
step recipe "$T_RECIPE" "$PY" -m pgan_lib.cli train cgan-fashion --mode $MODE --device $DEVICE $STEPS \
    --out "$OUT/_run" --force --no-progress > "$OUT/recipe.txt" 2>&1
if [ -f "$OUT/_run/last.json" ]; then   # the run's validation history, then drop the weights (not wanted back)
    "$PY" - "$OUT/_run/last.json" >> "$OUT/recipe.txt" 2>&1 <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
print(f"steps {meta['step']}, {meta['seconds']:.1f} s, best val_fid {meta.get('best_metric')}")
for h in meta.get("history", []):
    print(f"  step {h['step']:5d}  {h.get('train_seconds', h['seconds']):7.1f} s  val_fid {h.get('val_fid', float('nan')):.2f}")
EOF
fi
rm -rf "$OUT/_run"
if [ -f benchmarks/notebook_memory.py ]; then
    step notebooks "$T_NB" env PGAN_DEVICE=$DEVICE "$PY" benchmarks/notebook_memory.py --mode quick $NOTEBOOKS \
        --json "$OUT/notebook_memory.json" > "$OUT/notebook_memory.txt" 2>&1
    grep -q "FAILED" "$OUT/notebook_memory.txt" && { echo "== a notebook failed (notebook_memory.txt)" >> "$LOG"; FAILED=$((FAILED + 1)); }
else
    echo "benchmarks/notebook_memory.py is not in this tree: the notebooks run under nbval, no memory table" >> "$LOG"
    step notebooks "$T_NB" env PGAN_DEVICE=$DEVICE "$PY" -m pytest --nbval-lax -p no:cacheprovider -q --durations=0 \
        ${NOTEBOOKS:-notebooks} > "$OUT/notebooks.txt" 2>&1
fi
echo "== done: $FAILED step(s) failed; $(uptime)" >> "$LOG"
exit $FAILED
