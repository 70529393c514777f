#!/usr/bin/env bash
# One prepared GPU run (about 5 minutes on one H100): the CUDA-marked tests, the rule benchmark
# at 64×64/T=64, 128×128/T=128 and 256×256/T=256, and training images/s of the paper-64 preset
# (rule_impl parallel vs step, fp32 vs bf16). Writes logs and JSON into the folder given as
# the first argument (default: $OUT, else ./gpu-check).
#
#     bash benchmarks/gpu_check.sh results/
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu-check}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT_DIR/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

"$PY" -m pytest -q -m cuda tests/ 2>&1 | tee "$OUT_DIR/cuda_tests.log" || status=1

for dtype in float32 bfloat16; do
  "$PY" benchmarks/rules.py --device cuda --dtype "$dtype" --repeats 20 \
    --cases 64:64,128:128,256:256 --json "$OUT_DIR/rules_$dtype.json" 2>&1 \
    | tee "$OUT_DIR/rules_$dtype.log" || status=1
done

# paper-64 trains on CelebA, which the check machine may not have: its speed does not depend
# on the pictures, so the embedded digits (as 3-channel 64×64 images) stand in.
"$PY" benchmarks/train.py --preset paper-64 --data mnist --device cuda \
  --precision fp32,bf16 --impls parallel,step --warmup 5 --steps 20 \
  --json "$OUT_DIR/train_paper64.json" 2>&1 | tee "$OUT_DIR/train_paper64.log" || status=1

exit $status
