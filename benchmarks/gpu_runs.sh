# Shared by the prepared GPU quality scripts (sourced, not run): where the runs go, where the
# packed results go, and the packing. Each script sets NAME and THREADS, then sources this.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-$NAME}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS="$THREADS"
PY="${PYTHON:-python3}"
RUNS="${RUNS:-/tmp/fpa-$NAME}"
rm -rf "$RUNS" && mkdir -p "$RUNS"
START=$SECONDS

# Record the machine, then pack every run folder without its checkpoints into one file.
pack_runs() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    >"$RUNS/gpu.txt" 2>&1
  "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" \
    >"$RUNS/torch.txt"
  echo "$NAME: $((SECONDS - START)) s" | tee "$RUNS/elapsed.txt"
  tar -C "$RUNS" --exclude='*.pt' -czf "$OUT_DIR/$NAME.tar.gz" .
  ls -la "$OUT_DIR"
}
