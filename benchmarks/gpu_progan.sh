#!/usr/bin/env bash
# A prepared GPU session for notebook 10's variation ablation: minibatch stddev on vs off, several seeds.
#
#   OUT=/some/folder benchmarks/gpu_progan.sh               # on a CUDA machine (seeds 1 2; SEEDS="1 2 3" for more)
#   OUT=/tmp/dry benchmarks/gpu_progan.sh --dry-run         # the same steps on the CPU, tiny sizes (tested in CI)
#
# On the 2-core CPU one full run of progan-catalog64 takes about 94 minutes, so the ablation there is
# one pair per setting: with the category given, recall 0.312 (on) vs 0.305 (off), too close to call
# without knowing the spread between seeds. ARMS picks the recipes (default: both ablations, with the
# category given and unconditional: progan-catalog64[-uncond][-no-mbstd]).
# Steps:
#   1. machine: nvidia-smi, python, torch, CUDA                                        -> session.log
#   2. for every seed, every recipe of ARMS in full mode, all at once on the one GPU (each under its
#      own time limit; a run stopped by the limit saves its step and is measured at that step, which
#      the table shows; each run's last output lines go to the log)                   -> session.log
#   3. benchmarks/progan_compare.py --measure on every run: FID, category accuracy, precision, recall,
#      density, coverage, as many samples as real test images                         -> progan_seeds.txt/.json
# Needs what benchmarks/gpu_session.sh needs (the kit's dependencies; PYTHON picks the interpreter).
# Exit code: the number of steps that failed.
set -u
source "$(dirname "$0")/gpu_setup.sh" "$@"

if [ $DRY = 1 ]; then
    DEVICE=cpu; MODE=quick; STEPS="--steps 2"; SEEDS="${SEEDS:-1}"; T_TRAIN=300; T_MEASURE=300
else   # training runs side by side: the limit is for all of them together, then the measuring
    DEVICE=cuda; MODE=full; STEPS=""; SEEDS="${SEEDS:-1 2}"; T_TRAIN=420; T_MEASURE=150
fi
export PGAN_MODE=$MODE
ARMS="${ARMS:-progan-catalog64 progan-catalog64-no-mbstd progan-catalog64-uncond progan-catalog64-uncond-no-mbstd}"

RUNS=()
for seed in $SEEDS; do
    for recipe in $ARMS; do
        run="$OUT/runs/$recipe-s$seed"
        RUNS+=("$run")
        NAMES+=("train $recipe seed $seed")
        TXTS+=("$OUT/train-$recipe-s$seed.txt")
        echo "== train $recipe seed $seed (limit ${T_TRAIN}s)" >> "$LOG"
        timeout --signal=TERM --kill-after=20 "$T_TRAIN" "$PY" -m pgan_lib.cli train "$recipe" --mode $MODE \
            --device $DEVICE --seed "$seed" $STEPS --out "$run" --force --no-progress > "${TXTS[-1]}" 2>&1 &
        PIDS+=($!)
    done
done
collect_runs

MEASURE=()
for run in "${RUNS[@]}"; do [ -f "$run/last.json" ] && MEASURE+=("$run"); done
if [ ${#MEASURE[@]} -gt 0 ]; then
    step measure "$T_MEASURE" "$PY" benchmarks/progan_compare.py --measure "${MEASURE[@]}" \
        --out "$OUT/measured" > "$OUT/progan_seeds.txt" 2>&1
    cp "$OUT/measured/results.json" "$OUT/progan_seeds.json" 2>/dev/null
else
    echo "no run left a checkpoint to measure" >> "$LOG"; FAILED=$((FAILED + 1))
fi
rm -rf "$OUT/runs" "$OUT/measured"   # the weights are not wanted back, only the tables
echo "== done: $FAILED step(s) failed" >> "$LOG"
exit $FAILED
