"""Class-conditional painters (docs/design.md §11): labels from the data, G(z, y), the
projection head, --class and --per-class, resume, one-line errors, and unconditional runs
unchanged."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import fpa
from closeness import weights_mismatch
from fpa.classes import class_index
from fpa.cli import app
from fpa.data import build_dataset
from fpa.data.labels import class_labels
from fpa.data.mnist import load_mnist_5k
from fpa.data.torchvision_sets import TorchvisionImages
from fpa.discriminators.output import DiscriminatorOutput
from fpa.discriminators.projection import ProjectionDiscriminator
from fpa.errors import ConfigError, DataError
from fpa.evaluation.sampling import seeded_latents
from fpa.runs.checkpoint import load_checkpoint
from fpa.training import train
from fpa.viz import labelled_png, png_bytes
from tiny_runs import tiny

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
SIZE = 16


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A conditional tiny run on the digits, two steps."""
    folder = tmp_path_factory.mktemp("conditional") / "run"
    train(tiny(train_steps=2, conditional=True), out=folder, progress=False)
    return folder


def write_png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


# ---------------------------------------------------------------- labels from the data
def test_the_digits_classes_are_their_digits():
    found = class_labels(build_dataset("mnist", image_size=(16, 16), channels=1))
    assert found.names == tuple("0123456789")
    assert torch.equal(found.labels, torch.as_tensor(load_mnist_5k()[1], dtype=torch.int64))
    assert sum(found.frequencies) == pytest.approx(1) and min(found.frequencies) > 0.08


def test_an_image_folders_sub_folders_are_its_classes(tmp_path):
    for name, count in (("dogs", 3), ("cats", 2)):
        for i in range(count):
            write_png(tmp_path / name / f"{i}.png", 40 * i)
    write_png(tmp_path / "dogs" / "deeper" / "x.png", 9)
    found = class_labels(build_dataset(str(tmp_path), image_size=(8, 8), channels=1))
    assert found.names == ("cats", "dogs")
    assert found.labels.tolist() == [0, 0, 1, 1, 1, 1]
    assert found.frequencies == pytest.approx((2 / 6, 4 / 6))


def test_a_folder_with_images_at_its_root_has_no_classes(tmp_path):
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "cats" / "b.png", 2)
    dataset = build_dataset(str(tmp_path), image_size=(8, 8), channels=1)
    with pytest.raises(DataError, match="no class labels"):
        class_labels(dataset)


class FakeTorchvisionSet:
    """What torchvision's MNIST, CIFAR-10 and their kin offer: items, classes, targets."""

    def __init__(self) -> None:
        self.classes = ["0 - zero", "1 - one", "2 - two"]
        self.targets = torch.tensor([2, 0, 1, 2])

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return Image.fromarray(np.zeros((8, 8), dtype=np.uint8)), int(self.targets[index])


def test_a_torchvision_sets_classes_and_targets_are_its_labels():
    dataset = TorchvisionImages(
        FakeTorchvisionSet(), name="fake", size=(8, 8), channels=1, fit="cover"
    )
    found = class_labels(dataset)
    assert found.names == ("0 - zero", "1 - one", "2 - two")
    assert found.labels.tolist() == [2, 0, 1, 2]


# ---------------------------------------------------------------- generators
@pytest.mark.parametrize("baseline", [{}, {"baseline": "conv"}])
def test_a_conditional_generator_paints_each_class_differently(baseline):
    config = tiny(**baseline).with_overrides({"classes": ["a", "b"], "conditional": True})
    generator = config.build_generator().eval()
    z = torch.randn(3, config.latent_dim)
    with torch.no_grad():
        first = generator(z, torch.zeros(3, dtype=torch.int64))
        second = generator(z, torch.ones(3, dtype=torch.int64))
    assert not torch.allclose(first, second)
    with pytest.raises(ConfigError, match="pass labels"):
        generator(z)


def test_an_unconditional_generator_refuses_labels():
    generator = fpa.build_generator(image_size=8, paint_steps=2, latent_dim=4)
    with pytest.raises(ConfigError, match="unconditional"):
        generator(torch.randn(2, 4), torch.zeros(2, dtype=torch.int64))


# ---------------------------------------------------------------- the projection head
@pytest.mark.parametrize(("name", "size"), [("small", 8), ("lightgan", 16)])
def test_the_projection_head_adds_the_class_embedding_times_the_features(name, size):
    inner = fpa.build_discriminator(name, image_size=size, channels=1)
    projection = ProjectionDiscriminator(discriminator=inner, classes=3, name=name).eval()
    images = torch.rand(2, 1, size, size) * 2 - 1
    with torch.no_grad():
        plain = inner(images)
        by_class = [projection(images, torch.full((2,), k)).logits for k in range(3)]
        embedding = projection.embedding.weight
    assert not torch.allclose(by_class[0], by_class[1])
    expected = plain.logits + (embedding[2] * plain.features).sum(dim=1)
    torch.testing.assert_close(by_class[2], expected)


class NoFeatures(torch.nn.Module):
    def forward(self, images, *, reconstruct=False):
        return DiscriminatorOutput(images.mean(dim=(1, 2, 3)))


def test_a_discriminator_without_features_is_refused_in_one_line_naming_it():
    with pytest.raises(ConfigError, match="'third-party' cannot judge classes") as error:
        ProjectionDiscriminator(discriminator=NoFeatures(), classes=2, name="third-party")
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- training
def test_a_conditional_run_records_the_data_classes(run):
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["config"]["conditional"] is True
    assert state["generator_config"]["classes"] == list("0123456789")
    assert "embedding.parametrizations.weight.original" in state["discriminator"]
    generator = fpa.load(run)
    assert generator.classes == tuple("0123456789")
    assert "class_embedding.table.weight" in dict(generator.named_parameters())


def test_resume_with_labels_is_exact(tmp_path):
    train(tiny(conditional=True), out=tmp_path / "straight", progress=False)
    train(tiny(conditional=True, train_steps=2), out=tmp_path / "split", progress=False)
    train(out=tmp_path / "split", resume=True, train_steps=4, progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    for key in ("generator", "ema_generator", "discriminator", "random", "data"):
        left, right = straight[key], split[key]
        if isinstance(left, dict):
            assert left.keys() == right.keys(), key
            assert all(
                torch.equal(left[k], right[k])
                if isinstance(left[k], torch.Tensor)
                else left[k] == right[k]
                for k in left
            ), key
        else:
            assert torch.equal(left, right), key


@pytest.mark.parametrize(
    ("label", "changes"),
    [
        ("painter", {}),
        ("conv", {"baseline": "conv", "baseline_options": {"width": 4, "upsamplings": 2}}),
    ],
)
def test_unconditional_runs_are_what_they_were_before_classes(tmp_path, label, changes):
    """The reference tensors were written by main's code before this feature (the fixture says
    how) with one CPU thread. They are compared within float rounding, not bit for bit, and a
    few numbers may differ by more (tests/closeness.py says why), while a change to what a step
    computes moves nearly every weight by about the learning rate, 8e-4."""
    expected = json.loads((FIXTURES / "unconditional-3-steps.json").read_text())[label]
    state = three_steps(tmp_path, changes)
    for part, reference in reference_parts(label).items():
        assert (mismatch := weights_mismatch(state[part], reference, part=part)) is None, mismatch
    for key in ("config", "generator_config"):
        assert json.dumps(without_later_fields(state[key]), sort_keys=True) == expected[key], key


def test_the_comparison_with_the_reference_fails_for_a_changed_step(tmp_path):
    """The tolerance above still sees a real change: a learning rate half as large again."""
    state = three_steps(tmp_path, {"lr": 1.2e-3})
    for part, reference in reference_parts("painter").items():
        mismatch = weights_mismatch(state[part], reference, part=part)
        assert mismatch is not None and mismatch.startswith(f"{part}: "), part
        assert "numbers" in mismatch and "up to" in mismatch


def three_steps(tmp_path, changes: dict) -> dict:
    """The checkpoint of a tiny 3-step run trained with one CPU thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tiny(train_steps=3, **changes), out=tmp_path / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    return load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")


def reference_parts(label: str) -> dict[str, dict[str, torch.Tensor]]:
    """The fixture's tensors of one run, by part: generator, ema_generator, discriminator."""
    flat = load_file(FIXTURES / "unconditional-3-steps" / f"{label}.safetensors")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        part, name = key.split(".", 1)
        parts.setdefault(part, {})[name] = tensor
    assert set(parts) == {"generator", "ema_generator", "discriminator"}
    return parts


FIELDS_ADDED_SINCE = {
    "stroke_scale": 1,
    "stroke_basis": "pixel",
    "lr_decay_from": 1.0,
    "lr_refiner": 0.0,
    "augment_target": 0.6,
    "augment_adapt_images": 20_000,
}
"""Options added after the fixture was made, with the default that changes nothing."""


def without_later_fields(config: dict) -> dict:
    """The config as the fixture's code wrote it: later fields dropped when at their default."""
    kept = {}
    for name, value in config.items():
        if name in FIELDS_ADDED_SINCE:
            assert value == FIELDS_ADDED_SINCE[name], name
            continue
        kept[name] = without_later_fields(value) if isinstance(value, dict) else value
    return kept


# ---------------------------------------------------------------- the command line
def test_class_picks_the_class_by_name_or_index(run, tmp_path):
    generator = fpa.load(run)
    z = seeded_latents(generator, 4, 3)
    with torch.no_grad():
        sevens = generator(z, torch.full((4,), 7))
    assert (
        invoke(
            "sample", run, "--class", "7", "--n", 4, "--seed", 3, "--out", tmp_path / "a.png"
        ).exit_code
        == 0
    )
    assert (tmp_path / "a.png").read_bytes() == png_bytes(sevens, columns=2)
    assert (
        invoke(
            "sample", run, "--class", "3", "--n", 4, "--seed", 3, "--out", tmp_path / "b.png"
        ).exit_code
        == 0
    )
    assert (tmp_path / "b.png").read_bytes() != (tmp_path / "a.png").read_bytes()


def test_class_names_and_indices_resolve_with_a_did_you_mean():
    names = ("cats", "dogs")
    assert class_index(names, "dogs") == 1 and class_index(names, 1) == 1
    with pytest.raises(ConfigError, match="did you mean 'dogs'"):
        class_index(names, "dgos")
    with pytest.raises(ConfigError, match="out of range"):
        class_index(names, 2)


def test_per_class_draws_one_row_per_class_with_the_same_latents_in_each_column(run, tmp_path):
    out, each = tmp_path / "grid.png", tmp_path / "each"
    result = invoke("sample", run, "--per-class", 3, "--out", out, "--individual", each)
    assert result.exit_code == 0, result.output
    generator = fpa.load(run)
    fixed = load_checkpoint(run / "checkpoints" / "latest.pt")["fixed_latents"]
    with torch.no_grad():
        fours = generator(fixed[:3], torch.full((3,), 4))
        every = generator(fixed[:3].repeat(10, 1), torch.arange(10).repeat_interleave(3))
    # The rows are named by their classes, in a margin left of the grid.
    named = labelled_png(every, columns=3, row_names=list("0123456789"))
    with Image.open(out) as image, Image.open(io.BytesIO(named)) as expected:
        assert image.size == expected.size
        assert image.width > 3 * (SIZE + 2) + 2 and image.height == 10 * (SIZE + 2) + 2
        difference = np.abs(np.asarray(image, int) - np.asarray(expected, int))
        assert difference.max() <= 1, difference.max()
    # Image 13 is row 4 (the class "4"), column 1 (the second fixed latent).
    expected = png_bytes(fours[1:2], columns=1, padding=0)
    assert (each / "13.png").read_bytes() == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "{cond}", "--class", "eight"], "unknown class 'eight'"),
        (["sample", "{uncond}", "--class", "3"], "--class needs a conditional run"),
        (["sample", "{uncond}", "--per-class", "2"], "--per-class needs a conditional run"),
        (["interpolate", "{cond}"], "name the one to walk through with --class"),
        (["paint", "{cond}", "--class", "10"], "out of range"),
    ],
)
def test_class_errors_are_one_line_with_exit_code_2(run, tmp_path_factory, args, message):
    uncond = tmp_path_factory.getbasetemp() / "uncond"
    if not uncond.exists():
        train(tiny(train_steps=1), out=uncond, progress=False)
    out = tmp_path_factory.mktemp("out") / "x.png"
    filled = [a.format(cond=run, uncond=uncond) for a in args]
    result = invoke(
        *filled, "--out", out if filled[0] != "interpolate" else out.with_suffix(".gif")
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_conditional_training_on_data_without_classes_is_one_line(tmp_path):
    for i in range(10):
        write_png(tmp_path / "flat" / f"{i}.png", i)
    result = invoke(
        "train",
        "--conditional",
        "--data",
        tmp_path / "flat",
        "--image-size",
        8,
        "--batch-size",
        4,
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "no class labels" in errors[0], result.output


def test_a_model_folder_of_a_conditional_run_paints_the_same_classes(run, tmp_path):
    folder = fpa.export(run, tmp_path / "model", evaluate_n=0, paints="digits by class")
    exported, trained = fpa.load(folder), fpa.load(run)
    assert exported.classes == trained.classes == tuple("0123456789")
    z, labels = torch.randn(3, exported.latent_dim), torch.tensor([2, 5, 9])
    with torch.no_grad():
        assert torch.equal(exported(z, labels), trained(z, labels))


def test_the_generator_steps_pairs_share_their_class_for_the_mode_seeking_term(tmp_path):
    from fpa.training import prepare_run

    trainer = prepare_run(tiny(conditional=True), out=tmp_path / "run")
    paired = trainer.state.labels(8, paired=True)
    assert paired is not None and torch.equal(paired[:4], paired[4:])
    drawn = trainer.state.labels(4000)
    assert drawn is not None and torch.bincount(drawn, minlength=10).min() > 300


def test_a_conditional_run_logs_its_painters_statistics_with_its_labels(tmp_path):
    pytest.importorskip("tensorboard")
    config = tiny(train_steps=2, conditional=True, loggers=["tensorboard"])
    assert train(config, out=tmp_path / "run", progress=False).status == "finished"
    assert any((tmp_path / "run" / "logs").rglob("events.out.tfevents.*"))


def test_projection_of_a_conditional_painter_is_refused_in_one_line(run):
    with pytest.raises(ConfigError, match="projection takes an unconditional painter"):
        fpa.project(run, torch.zeros(1, 1, SIZE, SIZE), feature_weight=0)


def test_an_ablation_sheet_paints_a_conditional_cells_classes(tmp_path):
    from fpa.ablation.runner import sheet_of

    train(tiny(train_steps=1, conditional=True), out=tmp_path / "cell", progress=False)
    sheet = sheet_of([{"name": "cell", "scores": {"fid": 1.0}}], tmp_path, 4)
    assert sheet[:8] == b"\x89PNG\r\n\x1a\n"


def test_scoring_a_conditional_generator_draws_labels_from_the_class_shares(run):
    from fpa.evaluation.sampling import labels_for, seeded_images

    generator = fpa.load(run)
    drawn = labels_for(generator, 5000, torch.Generator().manual_seed(0))
    assert drawn is not None
    shares = torch.bincount(drawn, minlength=10).double() / 5000
    expected = torch.tensor(generator.config.class_frequencies, dtype=torch.float64)
    assert torch.allclose(shares, expected, atol=0.02)
    images = list(seeded_images(generator, n=6, batch_size=4, seed=0))
    assert [len(batch) for batch in images] == [4, 2]
