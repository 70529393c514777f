"""Images rebuilt from T strokes in each head layout, and ``fpa ceiling``, which scores them."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from einops import einsum, rearrange
from typer.testing import CliRunner

import fpa
from fpa.cli import app
from fpa.decomposition.low_rank import coloured_strokes, low_rank_images
from fpa.decomposition.svd import relative_error, svd_truncation
from fpa.errors import ConfigError
from fpa.painters.colour_basis import YCBCR_TO_RGB

YCBCR = torch.tensor(YCBCR_TO_RGB, dtype=torch.float64)


def random_images(seed: int, n: int = 6, size: tuple[int, int] = (8, 10)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, *size, generator=generator, dtype=torch.float64)


def painted_strokes(seed: int, rank: int) -> torch.Tensor:
    """Images that are exactly ``rank`` coloured strokes each."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(4, 8, rank, generator=generator, dtype=torch.float64)
    keys = torch.randn(4, 10, rank, generator=generator, dtype=torch.float64)
    colours = torch.randn(4, 3, rank, generator=generator, dtype=torch.float64)
    return einsum(values, keys, colours, "n row t, n col t, n c t -> n c row col")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rank", [1, 3, 6])
def test_each_layout_is_no_better_than_the_one_that_shares_less(seed, rank):
    """Per channel ⊇ shared keys ⊇ coloured strokes, and the first two are optimal (SVD), so
    the errors are ordered; each layout's picture has the rank its strokes allow."""
    images = random_images(seed)
    errors = {}
    for layout in ("per-channel", "shared-key", "coloured"):
        rebuilt = low_rank_images(images, rank=rank, strokes=layout)
        errors[layout] = relative_error(rebuilt, images)
        assert (torch.linalg.matrix_rank(rebuilt) <= rank).all(), layout
        if layout != "per-channel":  # the keys are shared: the stacked channels have rank T
            stacked = rearrange(rebuilt, "n c row col -> n (c row) col")
            assert (torch.linalg.matrix_rank(stacked) <= rank).all(), layout
    assert (errors["per-channel"] <= errors["shared-key"] + 1e-9).all()
    assert (errors["shared-key"] <= errors["coloured"] + 1e-9).all()


def test_per_channel_is_the_truncated_svd_of_each_channel_in_the_painted_basis():
    images = random_images(3)
    rebuilt = low_rank_images(images, rank=2, strokes="per-channel", mixing=YCBCR)
    painted = einsum(torch.linalg.inv(YCBCR), images, "p o, n o h w -> n p h w")
    expected = einsum(YCBCR, svd_truncation(painted, 2), "o p, n p h w -> n o h w")
    torch.testing.assert_close(rebuilt, expected)
    # In another basis the best per-channel strokes are different ones.
    assert not torch.allclose(rebuilt, low_rank_images(images, rank=2, strokes="per-channel"))


@pytest.mark.parametrize("rank", [1, 2, 4])
def test_images_painted_by_t_coloured_strokes_are_found_again(rank):
    """Alternating least squares converges to the strokes that painted the images (slowly
    where two strokes look alike: 200 sweeps rather than the default's 40)."""
    images = painted_strokes(rank, rank)
    rebuilt = coloured_strokes(images, rank, iterations=200)
    assert relative_error(rebuilt, images).max() < 1e-6


def test_every_als_sweep_lowers_the_error_or_keeps_it():
    images = random_images(5)
    errors = [
        relative_error(coloured_strokes(images, 4, iterations=k), images).sum()
        for k in (0, 1, 2, 5, 10, 20)
    ]
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < errors[0]


def test_bad_layouts_and_ranks_are_readable_errors():
    with pytest.raises(ConfigError, match="did you mean 'coloured'"):
        low_rank_images(random_images(0), rank=2, strokes="colored")
    with pytest.raises(ConfigError, match="at least 1"):
        low_rank_images(random_images(0), rank=0)


# ------------------------------------------------------------------ fpa.ceiling, fpa ceiling
@pytest.mark.slow
def test_the_ceiling_falls_with_the_rank_to_zero_at_full_rank():
    result = fpa.ceiling(
        "mnist",
        ranks=[1, 4, 32],
        strokes=["per-channel"],
        channels=1,
        colour_basis="direct",
        n=200,
        metrics="fid",
        device="cpu",
        use_cache=False,
    )
    fids = [row.scores["fid"] for row in result.rows]
    assert fids[0] > fids[1] > fids[2]
    assert fids[2] < 1e-3 < fids[1]
    assert result.rows[2].relative_error < 1e-6
    assert (result.features, result.n_real) == ("digits", 200)


@pytest.mark.slow
def test_the_ceiling_command_prints_json_and_refuses_bad_input():
    runner = CliRunner()

    def cli_runner(*args):
        return runner.invoke(app, list(args))

    ok = cli_runner(
        "ceiling",
        "mnist",
        "--channels",
        "1",
        "--colour-basis",
        "direct",
        "--ranks",
        "2,8",
        "--strokes",
        "per-channel",
        "--n",
        "100",
        "--metrics",
        "fid",
        "--json",
    )
    assert ok.exit_code == 0, ok.output
    rows = json.loads(ok.stdout)["rows"]
    assert [(row["strokes"], row["rank"]) for row in rows] == [
        ("per-channel", 2),
        ("per-channel", 8),
    ]
    assert rows[0]["scores"]["fid"] > rows[1]["scores"]["fid"]
    for arguments, message in [
        (["--channels", "1"], "ycbcr' needs 3 channels"),
        (["--channels", "1", "--colour-basis", "direct", "--ranks", "64"], "rank at most 32"),
        (["--channels", "1", "--colour-basis", "direct", "--ranks", "4,x"], "whole numbers"),
    ]:
        bad = cli_runner("ceiling", "mnist", *arguments)
        assert bad.exit_code == 2, bad.output
        assert message in bad.output and "Traceback" not in bad.output
        assert len(bad.output.strip().splitlines()) == 1
