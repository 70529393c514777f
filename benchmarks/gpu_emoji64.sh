#!/usr/bin/env bash
# The prepared GPU check of the 64×64 colour recipe, about 10 minutes on one H100/H200: five
# trainings share the card for the same TRAIN_SECONDS each, on the built-in emoji at 64×64 RGB,
#   1. fpa-64 as it is (coloured strokes painted in YCbCr),
#   2. fpa-64 with the paper's per-channel strokes (what the strokes change at 64×64),
#   3. fpa-64 painted in RGB (what YCbCr changes at 64×64 on a GPU; measured on CPUs only),
#   4. the conv baseline at 64×64 (the same harness, fpa-64's optimiser settings),
#   5. fpa-64 with the U-Net refiner (the paper's "FPA + U-Net"; on the CPU a small one made
#      the 64×64 painter match the baseline: docs/quality-study.md §8.2),
# then scores each on 2,000 samples (FID/KID, emoji features) and reads its diversity: the
# emoji classifier's distinct classes and entropy over 1,000 samples (`fpa evaluate --classes`;
# 1,000 real emoji at 64×64 give 909 classes and 9.75 bits: benchmarks/real_class_spread.py).
# Writes one gpu-emoji64.tar.gz (every run folder without checkpoints) into the folder given as
# the first argument (default: $OUT, else ./gpu-emoji64). QUICK=1 shrinks every budget to
# seconds, to try the script on a CPU first.
#
#     bash benchmarks/gpu_emoji64.sh results/
NAME=gpu-emoji64 THREADS=2
source "$(dirname "$0")/gpu_runs.sh"

if [ "${QUICK:-0}" = 1 ]; then
  TRAIN_SECONDS=20 WALL=240 EVAL_N=100 CLASS_N=100
  BIG=(--batch-size 4 --eval-n 100 --set eval_n=100 --set eval_every=2 --set sample_every=2)
else
  TRAIN_SECONDS=${TRAIN_SECONDS:-420} WALL=$((TRAIN_SECONDS + 180)) EVAL_N=2000 CLASS_N=1000
  BIG=(--set eval_every=1000 --set sample_every=1000)
fi

ablate() { timeout "$WALL" "$PY" -m fpa ablate --quiet "$@"; }
common=(--data emoji --image-size 64 --train-steps 1000000 --time-budget "$TRAIN_SECONDS"
  --samples 16 --eval-n "$EVAL_N" --set checkpoint_every=1000 "${BIG[@]}")

ablate --preset fpa-64 --vary seed=0 "${common[@]}" --out "$RUNS/fpa-64" \
  >"$RUNS/fpa-64.log" 2>&1 &
ablate --preset fpa-64 --vary strokes=per-channel "${common[@]}" --out "$RUNS/fpa-64-per-channel" \
  >"$RUNS/fpa-64-per-channel.log" 2>&1 &
ablate --preset fpa-64 --vary colour_basis=direct "${common[@]}" --out "$RUNS/fpa-64-rgb" \
  >"$RUNS/fpa-64-rgb.log" 2>&1 &
ablate --preset fpa-64 --vary 'baseline=["conv"]' "${common[@]}" --out "$RUNS/conv-64" \
  >"$RUNS/conv-64.log" 2>&1 &
ablate --preset fpa-64 --vary refiner=unet "${common[@]}" --out "$RUNS/fpa-64-unet" \
  >"$RUNS/fpa-64-unet.log" 2>&1 &
wait

for cell in "$RUNS"/*/*/; do
  [ -f "$cell/checkpoints/latest.pt" ] || continue
  timeout 120 "$PY" -m fpa evaluate "$cell" --n "$CLASS_N" --metrics fid --classes --json \
    >"$cell/eval_classes.json" 2>"$cell/eval_classes.err"
done

pack_runs
