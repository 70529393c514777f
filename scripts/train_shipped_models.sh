#!/usr/bin/env bash
# Retrain the models fpa ships, from scratch, with the commands their cards state, and export
# each into src/fpa/models/shipped/NAME (a folder there is replaced only once its export has
# succeeded; docs/design.md §8).
#
#   bash scripts/train_shipped_models.sh              # digits, digits-unet, emoji
#   bash scripts/train_shipped_models.sh digits       # only these
#
# Runs go to runs/shipped/NAME, logs to runs/shipped/NAME.log. digits-unet trains a refiner on
# the frozen digits painter, so it needs the digits run (trained first when both are asked
# for). On a 2-core CPU: about 8 min for digits, 6 for the refiner, 15 for emoji.
# tests/test_shipped_models.py checks that every card's command is one of COMMAND's below.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=runs/shipped
SHIPPED=src/fpa/models/shipped
declare -A COMMAND=(
    [digits]="fpa train --preset cpu-demo --train-steps 5400 --set discriminator_options={width=32} --out runs/shipped/digits"
    [digits-unet]="fpa train --refiner unet --init-from runs/shipped/digits --freeze-painter --out runs/shipped/digits-unet --set refiner_options={width=16} --batch-size 32 --train-steps 400"
    [emoji]="fpa train --preset cpu-emoji-lstm --out runs/shipped/emoji"
)
declare -A PAINTS=(
    [digits]="32×32 grey handwritten digits, in 16 rank-1 strokes (the cpu-demo painter)"
    [digits-unet]="32×32 grey handwritten digits, painted by the digits painter and refined by a U-Net"
    [emoji]="32×32 colour emoji (OpenMoji), in 16 coloured rank-1 strokes painted in YCbCr (the cpu-emoji-lstm painter)"
)
ORDER=(digits digits-unet emoji)
WANTED=("${@:-${ORDER[@]}}")

mkdir -p "$RUNS"
for name in "${ORDER[@]}"; do
    [[ " ${WANTED[*]} " == *" $name "* ]] || continue
    echo "== $name: ${COMMAND[$name]}"
    rm -rf "${RUNS:?}/$name"
    ${COMMAND[$name]} > "$RUNS/$name.log" 2>&1
    fpa export "$RUNS/$name" "$SHIPPED/$name" --overwrite --name "$name" \
        --paints "${PAINTS[$name]}" --command "${COMMAND[$name]}"
done
