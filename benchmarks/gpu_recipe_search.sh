#!/usr/bin/env bash
# The prepared GPU recipe search, about 5 minutes on one H100: the cpu-demo study at its full
# 1,800 steps instead of 600. The default painter (delta, LSTM) and each change alone, seeds 1
# and 2, scored on the offline digits features with the class histogram; ten processes share
# the card (ablate's claims hand out the cells). The steps, not the device, set the budget, so
# what wins here is what to confirm on the CPU.
# Writes one gpu-recipe.tar.gz (every run folder without checkpoints) into the folder given as
# the first argument (default: $OUT, else ./gpu-recipe). QUICK=1 shrinks every budget to
# seconds, to try the script on a CPU first.
#
#     bash benchmarks/gpu_recipe_search.sh results/
NAME=gpu-recipe THREADS=1
source "$(dirname "$0")/gpu_runs.sh"

if [ "${QUICK:-0}" = 1 ]; then
  WALL=200 EVAL_N=100 WORKERS=1 BUDGET=(--train-steps 2 --batch-size 8 --eval-n 100)
else
  WALL=290 EVAL_N=2000 WORKERS=5 BUDGET=()
fi

CHANGES=(  # the slowest first, so that they are not the ones left running at the deadline
  --vary paint_steps=32
  --vary discriminator=lightgan
  --vary 'painter_options=[{hidden_size=512, code_size=32}, {hidden_size=256, code_size=32, init_state_from_latent=false}]'
  --vary regularizer=gp,none
  --vary lr=4e-4,1.6e-3
  --vary updates_per_step=2
  --vary 'betas=[[0.5,0.9]]'
  --vary diversity_weight=0.0
)
for seed in 1 2; do
  for worker in $(seq "$WORKERS"); do
    timeout "$WALL" "$PY" -m fpa ablate --quiet --one-at-a-time --seed "$seed" "${CHANGES[@]}" \
      --samples 16 "${BUDGET[@]}" --out "$RUNS/seed-$seed" \
      >"$RUNS/seed-$seed-$worker.log" 2>&1 &
  done
done
wait

for cell in "$RUNS"/seed-*/*/; do
  [ -f "$cell/checkpoints/latest.pt" ] && [ -f "$cell/ablation.json" ] || continue
  timeout 30 "$PY" -m fpa evaluate "$cell" --n "$EVAL_N" --classes --json \
    >"$cell/eval_classes.json" 2>"$cell/eval_classes.err" &
done
wait

pack_runs
