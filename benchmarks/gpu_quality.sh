#!/usr/bin/env bash
# The prepared GPU quality check, about 7 minutes on one H100: every process shares the card.
#   1. paper-64 against fpa-64 on the built-in emoji at 64×64 RGB, the same training time each
#      (TRAIN_SECONDS), FID/KID on the offline emoji features every 1,000 steps and at the end.
#   2. More seeds of the cpu-demo comparison on digits: the default painter and the conv
#      baseline, seeds 1 and 2, 1,800 steps each, with the digit-class histogram.
#   3. cpu-emoji at its full 1,800 steps: the painter and the conv baseline.
# Writes one gpu-quality.tar.gz (every run folder without checkpoints) into the folder given
# as the first argument (default: $OUT, else ./gpu-quality). QUICK=1 shrinks every budget to
# seconds, to try the script on a CPU first.
#
#     bash benchmarks/gpu_quality.sh results/
NAME=gpu-quality THREADS=2
source "$(dirname "$0")/gpu_runs.sh"

if [ "${QUICK:-0}" = 1 ]; then
  TRAIN_SECONDS=20 WALL=240 EVAL_N=100 SMALL=(--train-steps 4 --batch-size 8 --eval-n 100)
  BIG=(--batch-size 4 --eval-n 100 --set eval_n=100 --set eval_every=2)
else
  TRAIN_SECONDS=270 WALL=390 EVAL_N=2000 SMALL=()
  BIG=(--set eval_every=1000)
fi

ablate() { timeout "$WALL" "$PY" -m fpa ablate --quiet "$@"; }

for preset in paper-64 fpa-64; do
  ablate --preset "$preset" --vary seed=0 --data emoji --image-size 64 --train-steps 1000000 \
    --time-budget "$TRAIN_SECONDS" --samples 16 --set sample_every=1000 \
    --set checkpoint_every=1000 "${BIG[@]}" --out "$RUNS/emoji64-$preset" \
    >"$RUNS/emoji64-$preset.log" 2>&1 &
done
for worker in 1 2; do
  ablate --vary seed=1,2 --vary 'baseline=["","conv"]' --samples 16 "${SMALL[@]}" \
    --out "$RUNS/digits-seeds" >"$RUNS/digits-seeds-$worker.log" 2>&1 &
done
ablate --preset cpu-emoji --vary 'baseline=["","conv"]' --samples 16 "${SMALL[@]}" \
  --out "$RUNS/emoji32" >"$RUNS/emoji32.log" 2>&1 &
wait

for cell in "$RUNS"/digits-seeds/*/; do
  [ -f "$cell/checkpoints/latest.pt" ] || continue
  timeout 60 "$PY" -m fpa evaluate "$cell" --n "$EVAL_N" --classes --json \
    >"$cell/eval_classes.json" 2>"$cell/eval_classes.err"
done

pack_runs
