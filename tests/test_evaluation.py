"""Evaluation: offline features, the real-statistics cache, fpa evaluate, eval during training."""

from __future__ import annotations

import json
import shutil
import warnings
from typing import ClassVar

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import fpa
from conftest import image_folder, plugged_in
from fpa.cli import app
from fpa.errors import ConfigError, DataError
from fpa.evaluation import Evaluator, FeatureStats, evaluate, frechet_distance
from fpa.evaluation.real_stats import cache_path, data_fingerprint
from fpa.features import FeatureExtractor, default_features
from fpa.features.inception import WEIGHTS_FILE
from fpa.features.offline import shipped_weights
from fpa.runs.checkpoint import load_checkpoint
from tiny_runs import tiny

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("FPA_INCEPTION_WEIGHTS", raising=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    fpa.train(tiny(), out=out)
    return out


def evaluator(**changes) -> Evaluator:
    options = {"data": "mnist", "image_size": (16, 16), "channels": 1, "n": 100, **changes}
    return Evaluator(**options)


class ScaledPixels(FeatureExtractor):
    """A third-party extractor: the mean pixel value per image row, scaled."""

    input_channels = 1
    input_size = (8, 8)
    default_for: ClassVar[tuple[str, ...]] = ("plugin-test-data",)

    def __init__(self, *, scale: float = 1.0) -> None:
        super().__init__()
        self.scale, self.feature_dim = scale, 8

    def fingerprint(self) -> str:
        return f"ScaledPixels-{self.scale}"

    def embed(self, images):
        return images.mean(dim=(1, 3)) * self.scale


class ScaledPixelsPlugin:
    @fpa.hookimpl
    def fpa_register_features(self, register):
        register("scaled-pixels", ScaledPixels)


def test_built_in_data_defaults_to_offline_features():
    assert default_features("mnist") == "digits"
    assert default_features("emoji") == "emoji"
    assert [default_features(name) for name in ("tango", "oxygen", "gnome")] == ["emoji"] * 3
    assert default_features("some/folder") == "inception"
    with plugged_in(ScaledPixelsPlugin(), "scaled"):
        assert default_features("plugin-test-data") == "scaled-pixels"


@pytest.mark.slow
def test_digit_classifier_recognises_held_out_digits():
    from fpa.data import build_dataset

    digits = build_dataset("mnist", image_size=32, channels=1)
    extractor = fpa.build_features("digits")
    images = torch.stack([digits[i] for i in range(4000, 5000)])
    predicted = extractor.logits(images).argmax(dim=1)
    # The last 1,000 digits mix training and held-out ones; the shipped net must know digits.
    assert (predicted == digits.labels[4000:5000].long()).float().mean() > 0.95
    assert extractor.about["test_accuracy"] > 0.95


@pytest.mark.slow
def test_evaluation_is_offline_cached_and_repeatable(tiny_run):
    first = evaluate(tiny_run, n=100, device="cpu")
    second = evaluate(tiny_run, n=100, device="cpu")
    assert first.features == "digits" and first.data == "mnist"
    assert first.real_stats == "computed" and second.real_stats == "cache"
    assert first.scores == second.scores
    assert first.scores["fid"] > 0 and set(first.scores) == {"fid", "kid", "kid_std"}
    assert first.n_generated == first.n_real == 100


@pytest.mark.slow
def test_cached_features_equal_fresh_ones():
    cached = evaluator().real
    fresh = evaluator(use_cache=False).real
    again = evaluator().real
    assert again.origin == "cache"
    torch.testing.assert_close(cached.stats.features, fresh.stats.features)
    torch.testing.assert_close(again.stats.features, fresh.stats.features)


@pytest.mark.slow
def test_cache_keys_separate_every_choice():
    base = evaluator().real
    assert evaluator().real.path == base.path
    others = [
        evaluator(n=120).real,
        evaluator(image_size=(20, 16)).real,
        evaluator(channels=3, features="digits").real,
    ]
    with plugged_in(ScaledPixelsPlugin(), "scaled"):
        others.append(evaluator(features="scaled-pixels").real)
    paths = {base.path, *(other.path for other in others)}
    assert len(paths) == 1 + len(others)
    assert all(other.origin == "computed" for other in others)


@pytest.mark.slow
def test_corrupt_cache_is_rebuilt_not_reused():
    path = evaluator().real.path
    path.write_bytes(b"not a cache file")
    with pytest.warns(UserWarning, match="unreadable"):
        rebuilt = evaluator().real
    assert rebuilt.origin.startswith("rebuilt")
    assert evaluator().real.origin == "cache"  # the rebuilt file is good again


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda f: f.index_fill(0, torch.tensor([3]), float("nan")), "not finite"),
        (lambda f: f[:, :-1], "features of width"),
        (lambda f: f.to(torch.int64), "not floating"),
        (lambda f: f[0], "no \\(N, D\\) table"),
    ],
)
def test_a_cache_with_the_right_key_but_bad_features_is_rebuilt(spoil, why):
    good = evaluator().real
    content = torch.load(good.path, weights_only=True)
    torch.save({"key": content["key"], "features": spoil(content["features"])}, good.path)
    with pytest.warns(UserWarning, match=why):
        rebuilt = evaluator().real
    assert rebuilt.origin.startswith("rebuilt")
    torch.testing.assert_close(rebuilt.stats.features, good.stats.features)
    assert evaluator().real.origin == "cache"


@pytest.mark.slow
def test_a_cache_whose_key_is_not_a_table_is_rebuilt():
    good = evaluator().real
    torch.save({"key": ["mnist"], "features": good.stats.features.float()}, good.path)
    with pytest.warns(UserWarning, match="rebuilt"):
        assert evaluator().real.origin.startswith("rebuilt")


@pytest.mark.slow
def test_cache_made_for_another_extractor_is_rebuilt():
    with plugged_in(ScaledPixelsPlugin(), "scaled"):
        other = evaluator(features="scaled-pixels").real
    target = evaluator().real
    shutil.copyfile(other.path, target.path)
    with pytest.warns(UserWarning, match="features"):
        rebuilt = evaluator().real
    assert rebuilt.origin.startswith("rebuilt")
    torch.testing.assert_close(rebuilt.stats.features, target.stats.features)


def test_folder_fingerprint_follows_its_images(tmp_path):
    folder = image_folder(tmp_path / "images", 3, colour=True)
    before = data_fingerprint(folder)
    assert data_fingerprint(folder) == before
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "new.png")
    assert data_fingerprint(folder) != before


def test_fewer_real_images_than_asked_uses_all_and_says_so(tmp_path):
    folder = image_folder(tmp_path / "few", 120, colour=True)
    with pytest.warns(UserWarning, match="has 120 images, fewer than --n 150"):
        scorer = evaluator(data=folder, n=150, channels=3, features="digits")
    assert scorer.real.stats.count == 120


def test_too_few_real_images_are_refused(tmp_path):
    folder = image_folder(tmp_path / "tiny", 30, colour=True)
    with pytest.raises(ConfigError, match="only 30 images"):
        evaluator(data=folder, channels=3, features="digits")


@pytest.mark.slow
def test_generated_features_are_seeded_and_keep_the_mode(tiny_run):
    generator = fpa.load(tiny_run).train()
    scorer = evaluator()
    first = scorer.generated_features(generator, seed=3)
    assert generator.training
    torch.testing.assert_close(first, scorer.generated_features(generator, seed=3))
    assert not torch.equal(first, scorer.generated_features(generator, seed=4))


def test_cached_cache_path_is_under_the_cache_dir(tmp_path):
    key = evaluator().real.key
    assert cache_path(key).is_relative_to(tmp_path / "cache")


@pytest.mark.slow
def test_evaluate_command_prints_json(tiny_run, tmp_path):
    out = tmp_path / "scores.json"
    result = runner.invoke(
        app, ["evaluate", str(tiny_run), "--n", "100", "--json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert json.loads(out.read_text()) == printed
    assert printed["features"] == "digits"
    assert printed["scores"] == evaluate(tiny_run, n=100, device="cpu").scores  # same defaults


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--metrics", "fid,is"], "--metrics takes"),
        (["--n", "10"], "at least 100"),
        (["--features", "inception"], WEIGHTS_FILE),
        (["--features", "nope"], "nope"),
        (["--inception-weights", "x.pth"], "applies to --features inception"),
    ],
)
def test_evaluate_command_bad_input(tiny_run, arguments, message):
    result = runner.invoke(app, ["evaluate", str(tiny_run), "--n", "100", *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_inception_weights_must_be_plain_tensors(tiny_run, tmp_path):
    weights = tmp_path / "weights.pth"
    torch.save({"not": warnings.WarningMessage}, weights)
    result = runner.invoke(
        app,
        ["evaluate", str(tiny_run), "--features", "inception", "--inception-weights", str(weights)],
    )
    assert result.exit_code == 2
    assert "not an Inception weights file" in result.output


def test_grey_run_is_not_judged_by_colour_data(tiny_run, tmp_path):
    folder = image_folder(tmp_path / "colour", 100, colour=True)
    result = runner.invoke(app, ["evaluate", str(tiny_run), "--data", folder, "--n", "100"])
    assert result.exit_code == 2
    assert "in colour" in result.output


@pytest.mark.slow
def test_grey_run_may_be_judged_by_other_grey_data(tiny_run, tmp_path):
    folder = image_folder(tmp_path / "grey", 100, colour=False)
    arguments = ["--data", folder, "--n", "100", "--features", "digits", "--json"]
    result = runner.invoke(app, ["evaluate", str(tiny_run), *arguments])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["data"] == folder and printed["n_real"] == 100


@pytest.mark.slow
def test_training_logs_scores_and_keeps_the_best_checkpoint(tmp_path):
    out = tmp_path / "run"
    fpa.train(tiny(eval_every=2, eval_n=100, train_steps=4), out=out)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(r["fid"] > 0 and "kid" in r for r in evals)
    best = min(evals, key=lambda r: r["fid"])
    saved = load_checkpoint(out / "checkpoints" / "best.pt")
    assert saved["step"] == best["step"]
    assert saved["best_score"] == pytest.approx(best["fid"], rel=1e-5)


class ReplayGenerator(torch.nn.Module):
    """Returns real digits in turn, ignoring the latents: a generator with known classes."""

    latent_dim = 4

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images, self.weight, self.position = images, torch.nn.Parameter(torch.zeros(1)), 0

    def forward(self, z):
        index = torch.arange(self.position, self.position + len(z)) % len(self.images)
        self.position += len(z)
        return self.images[index]


@pytest.mark.slow
def test_class_histogram_counts_what_is_painted():
    from fpa.data import build_dataset
    from fpa.evaluation import class_histogram

    digits = build_dataset("mnist", image_size=32, channels=1)
    threes = torch.stack([digits[i] for i in range(1000) if digits.labels[i] == 3][:50])
    classifier = fpa.build_features("digits")
    only_threes = class_histogram(ReplayGenerator(threes), classifier, n=100, batch_size=30)
    assert only_threes.total == 100 and only_threes.counts[3] >= 90
    assert only_threes.entropy_bits < 0.6

    varied = torch.stack([digits[i] for i in range(1000)])
    everything = class_histogram(ReplayGenerator(varied), classifier, n=1000, batch_size=250)
    assert everything.entropy_bits > 3.2 and everything.max_entropy_bits == pytest.approx(
        3.3219, abs=1e-4
    )


@pytest.mark.slow
def test_evaluate_command_reports_classes(tiny_run):
    result = runner.invoke(app, ["evaluate", str(tiny_run), "--n", "100", "--classes", "--json"])
    assert result.exit_code == 0, result.output
    classes = json.loads(result.stdout)["classes"]
    assert sum(classes["counts"]) == 100 and len(classes["counts"]) == 10
    assert 0 <= classes["entropy_bits"] <= classes["max_entropy_bits"]


@pytest.mark.slow
def test_emoji_features_recognise_a_shifted_emoji():
    from fpa.data import build_dataset

    emoji = build_dataset("emoji", image_size=32, channels=3)
    originals = torch.stack([emoji[i] for i in range(0, 4000, 40)])  # 100 different emoji
    noise = 0.05 * torch.randn(originals.shape, generator=torch.Generator().manual_seed(0))
    # Shifted by 2 pixels, lower contrast, noisy: an untrained net of the same shape finds ~1%.
    changed = (torch.roll(originals, shifts=(2, -2), dims=(2, 3)) * 0.8 + noise).clamp(-1, 1)
    extractor = fpa.build_features("emoji")
    distances = torch.cdist(extractor(changed), extractor(originals))
    found = (distances.argmin(dim=1) == torch.arange(len(originals))).float().mean()
    assert found > 0.9


def icon_set(name: str) -> torch.Tensor:
    """All of one colour set at 32×32; the icon themes need their Debian packages."""
    from fpa.data import build_dataset

    try:
        data = build_dataset(name, image_size=32, channels=3)
    except DataError as error:  # e.g. tango-icon-theme not installed
        pytest.skip(str(error))
    return torch.stack([data[i] for i in range(len(data))])


def fid(extractor: FeatureExtractor, a: torch.Tensor, b: torch.Tensor) -> float:
    return frechet_distance(FeatureStats.of(extractor(a)), FeatureStats.of(extractor(b)))


def test_icon_features_are_shipped_and_are_not_the_emoji_net():
    """``icons`` is the independent check on scores tuned with ``emoji``: its own data mix,
    seed and weights, and the default for no data set (so nothing is tuned on it)."""
    from fpa.data import dataset_names

    icons, emoji = fpa.build_features("icons"), fpa.build_features("emoji")
    assert (icons.input_channels, icons.input_size, icons.feature_dim) == (3, (32, 32), 128)
    assert icons.about["dataset"] == "emoji+tango+oxygen+gnome"
    assert icons.about["seed"] != emoji.about["seed"]
    assert icons.num_classes == icons.about["num_classes"] > emoji.num_classes
    assert icons.fingerprint() != emoji.fingerprint()
    assert icons.about["test_accuracy"] > 0.6
    assert shipped_weights("icons.pt").stat().st_size < 2_000_000
    assert "icons" not in {default_features(name) for name in dataset_names()}


@pytest.mark.slow
def test_icon_features_score_a_set_against_itself_near_zero_and_noise_far():
    """Shipped weights: two halves of oxygen 4.7 apart, oxygen and uniform noise 1,033."""
    icons, oxygen = fpa.build_features("icons"), icon_set("oxygen")
    noise = torch.rand(oxygen.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert abs(fid(icons, oxygen, oxygen)) < 1e-6
    halves = fid(icons, oxygen[0::2], oxygen[1::2])
    assert 0 < halves < 10
    assert fid(icons, oxygen, noise) > 100 * halves


@pytest.mark.slow
def test_icon_features_tell_the_colour_sets_apart():
    """Between two sets the distance is many times that between two halves of one set
    (shipped weights: 4.7 for oxygen's halves; 41.6 oxygen-gnome, 25.9 gnome-tango, whose
    styles are closest)."""
    icons = fpa.build_features("icons")
    oxygen, gnome, tango = icon_set("oxygen"), icon_set("gnome"), icon_set("tango")
    halves = fid(icons, oxygen[0::2], oxygen[1::2])
    assert fid(icons, oxygen, gnome) > 5 * halves
    assert fid(icons, gnome, tango) > 3 * halves


def test_icon_features_recognise_a_shifted_icon():
    """As for the emoji net: 100 different oxygen icons, changed, are found by their features
    (the shipped net finds all 100; an untrained net of the same shape 4)."""
    originals = icon_set("oxygen")[0:1200:12]
    noise = 0.05 * torch.randn(originals.shape, generator=torch.Generator().manual_seed(0))
    changed = (torch.roll(originals, shifts=(2, -2), dims=(2, 3)) * 0.8 + noise).clamp(-1, 1)
    icons = fpa.build_features("icons")
    distances = torch.cdist(icons(changed), icons(originals))
    found = (distances.argmin(dim=1) == torch.arange(len(originals))).float().mean()
    assert found > 0.9


def test_evaluate_table_shows_the_top_classes_and_the_json_all_of_them(monkeypatch, tmp_path):
    """With ~1,800 classes (the emoji features) the table stays short; the JSON is complete."""
    from fpa.evaluation.evaluator import EvaluationResult

    counts = [0] * 1800
    for index, count in {7: 50, 1234: 40, 3: 30, 99: 5, 1799: 4}.items():
        counts[index] = count
    counts[500:520] = [1] * 20
    classes = {"counts": counts, "entropy_bits": 2.5, "max_entropy_bits": 10.81}

    def fake_evaluate(run, **options):
        return EvaluationResult(
            scores={"fid": 1.0},
            features="emoji",
            data="emoji",
            n_generated=149,
            n_real=149,
            real_stats="cached",
            classes=classes,
        )

    monkeypatch.setattr(fpa.evaluation, "evaluate", fake_evaluate)
    monkeypatch.setenv("COLUMNS", "120")
    result = runner.invoke(
        app, ["evaluate", str(tmp_path), "--classes", "--out", tmp_path / "e.json"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) < 30, result.stdout
    assert "2.500 of 10.810" in result.stdout and "25 of 1,800" in result.stdout
    shown = [line for line in lines if "class " in line and "%" in line]
    assert len(shown) == 10
    assert "class 7 " in shown[0] and "50 (33.6%)" in shown[0] and "class 1234" in shown[1]
    assert "--json" in result.stdout
    assert json.loads((tmp_path / "e.json").read_text())["classes"]["counts"] == counts
    printed = runner.invoke(app, ["evaluate", str(tmp_path), "--classes", "--json"])
    assert json.loads(printed.stdout)["classes"]["counts"] == counts


@pytest.mark.parametrize(("kid_std", "noted"), [(8.79e-16, True), (0.0021, False)])
def test_a_kid_std_of_rounding_is_noted_beside_the_table(monkeypatch, tmp_path, kid_std, noted):
    from fpa.evaluation.evaluator import EvaluationResult

    def fake_evaluate(run, **options):
        return EvaluationResult(
            scores={"fid": 1.0, "kid": 0.01, "kid_std": kid_std},
            features="digits",
            data="mnist",
            n_generated=500,
            n_real=500,
            real_stats="cached",
        )

    monkeypatch.setattr(fpa.evaluation, "evaluate", fake_evaluate)
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--n", "500"])
    assert result.exit_code == 0, result.output
    assert ("note: kid_std ≈ 0 is no spread" in result.output) == noted
    assert json.loads(runner.invoke(app, ["evaluate", str(tmp_path), "--json"]).stdout)
