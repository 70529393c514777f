#!/usr/bin/env bash
# The prepared GPU check, under 8 minutes on one H100: the CUDA-marked tests (including a
# torchrun/NCCL run with bf16 and --compile), the rule benchmark at 64×64/T=64, 128×128/T=128
# and 256×256/T=256, training images/s of the paper-64 preset (rule_impl parallel vs step,
# fp32 vs bf16), and, in whatever time is left before 7 minutes, paper-64 with --compile.
# Writes every log and JSON into the folder given as the first argument (default: $OUT, else
# ./gpu-check), then one gpu_check.json and a readable gpu_check.md (printed at the end).
#
#     bash benchmarks/gpu_check.sh results/
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu-check}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
BUDGET=420  # seconds for everything up to the optional compile stage's end
START=$SECONDS
status=0
left() { echo $((BUDGET - (SECONDS - START))); }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT_DIR/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" \
  | tee "$OUT_DIR/torch.txt"

timeout 210 "$PY" -m pytest -q -m cuda tests/ 2>&1 | tee "$OUT_DIR/cuda_tests.log" || status=1

for dtype in float32 bfloat16; do
  timeout 60 "$PY" benchmarks/rules.py --device cuda --dtype "$dtype" --repeats 20 \
    --cases 64:64,128:128,256:256 --json "$OUT_DIR/rules_$dtype.json" 2>&1 \
    | tee "$OUT_DIR/rules_$dtype.log" || status=1
done

# paper-64 trains on CelebA, which the check machine may not have: its speed does not depend
# on the pictures, so the embedded digits (as 3-channel 64×64 images) stand in.
timeout 100 "$PY" benchmarks/train.py --preset paper-64 --data mnist --device cuda \
  --precision fp32,bf16 --impls parallel,step --warmup 5 --steps 20 \
  --json "$OUT_DIR/train_paper64.json" 2>&1 | tee "$OUT_DIR/train_paper64.log" || status=1

# Optional: compiling can take minutes; the JSON keeps whatever finished before the deadline.
if [ "$(left)" -gt 60 ]; then
  timeout "$(left)" "$PY" benchmarks/train.py --preset paper-64 --data mnist --device cuda \
    --precision bf16,fp32 --impls parallel --compile on --warmup 8 --steps 20 \
    --json "$OUT_DIR/train_paper64_compiled.json" 2>&1 | tee "$OUT_DIR/train_compiled.log"
else
  echo "no time left for the --compile stage" | tee "$OUT_DIR/train_compiled.log"
fi

"$PY" benchmarks/gpu_report.py "$OUT_DIR" || status=1
echo "gpu_check: $((SECONDS - START)) s, exit $status"
exit $status
