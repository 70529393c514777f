"""Atomic writes: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from fpa.errors import FpaError
from fpa.files import atomic_write, atomic_write_bytes


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"good")

    def explode(file):
        file.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "grid.png", b"png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "grid.png").stat().st_mode) == 0o644


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FpaError, match="does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "x", b"")
