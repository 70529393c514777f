#!/usr/bin/env bash
# fpa's paper-64 against the authors' code (IDSIA/fpainter) on one lent GPU, as ONE command of
# about 7 minutes: benchmarks/gpu_vs_fpainter.py (generator forward + backward with the same
# weights, one full training step of each; fp32, bf16, fp16; fpa also compiled and under CUDA
# graphs, as far as the budget goes), then its table. Writes gpu.txt, gpu_vs_fpainter.log and
# gpu_vs_fpainter.json into the folder given as the first argument (default: $OUT, else
# ./gpu-vs-fpainter).
#
# The authors' code is not in this repository and the GPU machine reaches no network, so it
# travels in the ignored folder third_party/ (see .gitignore), with the one wheel fpa needs
# that the machine lacks (tomli_w). Once, on the machine the session runs on, in the checkout
# the device tool sends:
#   1. fetch the authors' repository with the fetch tool: source "github:IDSIA/fpainter"; it
#      answers with a bare git directory, e.g. /work/.mirror/IDSIA+fpainter/repo
#   2. bash benchmarks/gpu_vs_fpainter.sh prepare /work/.mirror/IDSIA+fpainter/repo
#      (writes third_party/fpainter/{code,LICENSE,README.md} and third_party/wheels/; < 1 MiB)
#   3. optional, here on the CPU (about 3 minutes on a busy 2-core machine):
#      QUICK=1 bash benchmarks/gpu_vs_fpainter.sh /tmp/gvf
# Then the device tool's run, with the folder carried:
#   command:   bash benchmarks/gpu_vs_fpainter.sh
#   carry:     ["third_party"]
#   timeout_s: 540
# The table is printed at the end of the output and the JSON comes back under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if [ "${1:-}" = prepare ]; then
  mirror="${2:?usage: gpu_vs_fpainter.sh prepare /path/to/IDSIA+fpainter bare git directory}"
  rm -rf third_party/fpainter && mkdir -p third_party/fpainter third_party/wheels
  git --git-dir="$mirror" archive HEAD code LICENSE README.md | tar -x -C third_party/fpainter
  git --git-dir="$mirror" rev-parse HEAD >third_party/fpainter/COMMIT
  "$PY" -m pip download -q --no-deps --only-binary=:all: tomli_w==1.2.0 -d third_party/wheels
  git check-ignore -q third_party || echo "warning: third_party/ is not ignored by git here"
  du -sh third_party && ls third_party/fpainter/code
  exit 0
fi

OUT_DIR="${1:-${OUT:-gpu-vs-fpainter}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
# fpa runs from src/ (no install); the wheels cover what the GPU machine's Python lacks.
if ! "$PY" -c "import tomli_w" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/fpa-site \
    third_party/wheels/*.whl || exit 1
  export PYTHONPATH="/tmp/fpa-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
[ -f third_party/fpainter/COMMIT ] && echo "authors' code: IDSIA/fpainter $(cat third_party/fpainter/COMMIT)"

if [ "${QUICK:-0}" = 1 ]; then  # the same script on the CPU, at small sizes, eager only
  echo "CPU check" | tee "$OUT_DIR/gpu.txt"
  args=(--device cpu --tiny --fpa-modes eager --precision fp32,bf16)
  limit=900
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | tee "$OUT_DIR/gpu.txt"
  # Eager cells first (about 2 minutes), then the compiled ones until 330 s have passed; a
  # cell that started by then may run on until the hard limit of 450 s.
  args=(--device cuda --precision fp32,bf16,fp16 --compile-precision bf16,fp32
    --fpa-modes eager,cudagraphs,compile --authors-compile --budget 330)
  limit=450
fi
timeout "$limit" "$PY" benchmarks/gpu_vs_fpainter.py --fpainter third_party/fpainter "${args[@]}" \
  --json "$OUT_DIR/gpu_vs_fpainter.json" 2>&1 | tee "$OUT_DIR/gpu_vs_fpainter.log"
status=$?
if [ "$status" -ne 0 ] && [ -f "$OUT_DIR/gpu_vs_fpainter.json" ]; then
  echo "gpu_vs_fpainter.py ended with exit $status; the cells it finished:"
  "$PY" benchmarks/gpu_vs_fpainter.py --report "$OUT_DIR/gpu_vs_fpainter.json"
fi
exit $status
