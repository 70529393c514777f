"""The shaded icon sets (``tango``, ``oxygen``, ``gnome``): one picture per distinct file, the
render size that covers the request, alpha over white, and a clear error without the theme."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fpa
from fpa.data import build_dataset, icon_themes
from fpa.errors import DataError


def write_icon(path: Path, size: int, colour: tuple[int, int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (size, size), colour).save(path)


@pytest.fixture
def themes(tmp_path, monkeypatch):
    """A fake icons folder: Tango at 16 and 32 pixels, with a link and a byte-identical copy."""
    tango = tmp_path / "Tango"
    write_icon(tango / "32x32" / "apps" / "red.png", 32, (255, 0, 0, 255))
    write_icon(tango / "32x32" / "apps" / "glass.png", 32, (0, 0, 255, 0))
    write_icon(tango / "32x32" / "places" / "red-copy.png", 32, (255, 0, 0, 255))
    os.symlink(tango / "32x32" / "apps" / "red.png", tango / "32x32" / "places" / "red-link.png")
    write_icon(tango / "16x16" / "apps" / "green.png", 16, (0, 255, 0, 255))
    (tango / "scalable").mkdir()
    monkeypatch.setenv("FPA_ICONS_DIR", str(tmp_path))
    icon_themes._TENSORS.clear()
    yield tmp_path
    icon_themes._TENSORS.clear()


def test_one_picture_per_distinct_file_composited_onto_white(themes):
    data = build_dataset("tango", image_size=32, channels=3)
    assert len(data) == 2  # red and glass; the link and the copy are the same picture
    pixels = sorted(
        tuple(int(v) for v in (data[i][:, 0, 0] * 127.5 + 127.5).round()) for i in range(2)
    )
    assert pixels == [(255, 0, 0), (255, 255, 255)]  # the transparent icon is white


def test_the_smallest_render_that_covers_the_request_is_read(themes):
    assert len(build_dataset("tango", image_size=16, channels=3)) == 1  # the 16-pixel folder
    assert len(build_dataset("tango", image_size=24, channels=3)) == 2  # 32 covers 24
    big = build_dataset("tango", image_size=(48, 48), channels=1)  # none covers 48: the largest
    assert big[0].shape == (1, 48, 48)


def test_a_missing_theme_says_which_package_to_install(themes):
    with pytest.raises(DataError, match=r"apt-get install oxygen-icon-theme"):
        build_dataset("oxygen", image_size=32, channels=3)


def test_the_icon_sets_are_built_in_names():
    assert {"tango", "oxygen", "gnome"} <= set(fpa.data.dataset_names())


@pytest.mark.skipif(
    not Path("/usr/share/icons/Tango/32x32").is_dir(), reason="tango-icon-theme not installed"
)
def test_debians_tango_holds_215_distinct_shaded_icons(monkeypatch):
    monkeypatch.delenv("FPA_ICONS_DIR", raising=False)
    icon_themes._TENSORS.clear()
    data = build_dataset("tango", image_size=32, channels=3)
    assert len(data) == 215
    # Shaded: the median icon holds hundreds of colours (flat OpenMoji emoji at 32×32: 57).
    pixels = [(data[i] * 127.5 + 127.5).round().to(int).reshape(3, -1).T for i in range(215)]
    colours = [len({tuple(pixel.tolist()) for pixel in image}) for image in pixels]
    assert np.median(colours) > 150
