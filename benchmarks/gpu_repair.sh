#!/usr/bin/env bash
# A prepared GPU run for notebook 07's description-guided catalogue repair: does a wider or a longer training
# draw the requested pattern in holes whose description contradicts the visible half (target 0.90)?
#
#   OUT=/some/folder benchmarks/gpu_repair.sh               # on a CUDA machine
#   OUT=/tmp/dry benchmarks/gpu_repair.sh --dry-run         # the same steps on the CPU, tiny sizes (tested in CI)
#
# On the 2-core CPU the shipped catalog-repair (width 32, 8,000 steps) took about 2.5 hours; on 600 validation
# items it draws the requested colour and pattern in 0.738 of the holes whose description contradicts the
# visible half. Width mattered more than length there (width 16 -> 32: 0.57 -> 0.74; 4,000 -> 8,000 steps at
# width 16: 0.52 -> 0.57). ARMS lists WIDTH:STEPS pairs (default "32:16000 64:8000 64:16000"). Only width 32 fits
# the shipped models' 64 MB (catalog-repair is 8 MB in fp16; width 64 would be about four times that), so the
# width-32 arms' weights come back (KEEP) and a wider arm answers whether width is worth that space.
# Steps:
#   1. machine: nvidia-smi, python, torch, CUDA                                        -> session.log
#   2. every arm trained at once on the one GPU, the recipe's losses, pairs and seed at U-Net and PatchGAN
#      width WIDTH for STEPS steps (benchmarks/repair_select.py --task catalog --width W --train-only), each
#      with a training-time budget; a run that spends it stops and saves its step; its console output is
#      added to the log                                                                -> session.log
#   3. each arm measured as it stopped (--measure-only) on 600 validation items against the shipped
#      catalog-repair, with the rule of repair_select.py's round 3 (own and contradicting descriptions,
#      hole PSNR); the step it reached is printed                                       -> repair.txt
#   4. the arms of KEEP (default "32:16000") exported in fp16 as shippable checkpoints
#                                                        -> catalog-repair-wW-sS.safetensors/.json/.log
# Needs what benchmarks/gpu_session.sh needs (the kit's dependencies; PYTHON picks the interpreter).
# Exit code: the number of steps that failed.
set -u
source "$(dirname "$0")/gpu_setup.sh" "$@"

if [ $DRY = 1 ]; then
    DEVICE=cpu; ARMS="${ARMS:-8:2 12:2}"; KEEP="${KEEP:-8:2}"; N=16; T_TRAIN=300; BUDGET=240; T_MEASURE=300
else   # the arms train side by side: the limit is for all of them together, then the measuring; worst case
    # 400 + 3 x 45 + 30 s, inside one 600-second call
    DEVICE=cuda; ARMS="${ARMS:-32:16000 64:8000 64:16000}"; KEEP="${KEEP:-32:16000}"; N=600; T_TRAIN=400; BUDGET=320
    T_MEASURE=45
fi

parse_arm() {   # parse_arm WIDTH:STEPS: sets width, steps and the arm's name wWIDTH-sSTEPS
    width=${1%%:*}; steps=${1##*:}; name="w$width-s$steps"
}

for arm in $ARMS; do
    parse_arm "$arm"
    NAMES+=("train $name")
    TXTS+=("$OUT/train-$name.txt")
    echo "== train width $width, $steps steps (limit ${T_TRAIN}s, budget ${BUDGET}s)" >> "$LOG"
    TQDM_DISABLE=1 timeout --signal=TERM --kill-after=20 "$T_TRAIN" "$PY" benchmarks/repair_select.py --task catalog \
        --width "$width" --steps "$steps" --device $DEVICE --max-seconds $BUDGET --out "$OUT/runs/$name" \
        --train-only > "${TXTS[-1]}" 2>&1 &
    PIDS+=($!)
done
collect_runs

for arm in $ARMS; do
    parse_arm "$arm"
    echo "== width $width, $steps steps" >> "$OUT/repair.txt"
    step "measure $name" "$T_MEASURE" "$PY" benchmarks/repair_select.py --task catalog --width "$width" \
        --steps "$steps" --n $N --out "$OUT/runs/$name" --measure-only >> "$OUT/repair.txt" 2>&1
done
for arm in $KEEP; do
    parse_arm "$arm"
    step "export $name" 30 "$PY" -c 'import sys, torch; from pgan_lib import pretrained
pretrained.export(sys.argv[1], sys.argv[2], dtype=torch.float16)' \
        "$OUT/runs/$name/repair-catalog-width$width/last" "$OUT/catalog-repair-$name"
done
rm -rf "$OUT/runs"   # only the tables and the kept arms come back
echo "== done: $FAILED step(s) failed" >> "$LOG"
exit $FAILED
