"""Packaging: a light import, and a real third-party plugin found through its entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fpa-example-plugin"

# Every test here starts a child Python (and pip): end to end, so slow.
pytestmark = pytest.mark.slow


def test_import_fpa_stays_light():
    code = (
        "import sys, fpa; heavy = [m for m in ('torchvision', 'fpa.data', 'fpa.cli', "
        "'fpa.training') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory) -> Path:
    """The example plugin installed by pip into a folder that a child Python puts on its path."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return site


def run_with(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )


def test_the_installed_example_plugin_is_listed_by_fpa_plugins(example_plugin_site):
    done = run_with(example_plugin_site, "-m", "fpa", "plugins", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (row,) = [r for r in report["components"] if r["name"] == "soft-delta"]
    assert row["kind"] == "rules"
    assert row["distribution"] == "fpa-example-plugin" and row["version"] == "0.1.0"
    assert not report["broken"]


def test_the_installed_example_rule_paints_by_name(example_plugin_site):
    code = """
import torch, fpa
rule = fpa.build_rule("soft-delta")
assert not rule.has_parallel_form
G = fpa.build_generator(rule="soft-delta", painter="lstm", image_size=8, channels=3, paint_steps=4,
                        latent_dim=6, hidden_size=16, input_size=8)
trace = G.paint_trace(torch.randn(2, 6))
ranks = torch.linalg.matrix_rank(trace.updates.double(), atol=1e-6)
print(tuple(trace.images.shape), int(ranks.max()))
"""
    done = run_with(example_plugin_site, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(2,", "3,", "8,", "8)", "1"]


PLUGINS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLUGIN_SENSITIVE = [
    "tests/test_plugins.py",
    "tests/test_rules.py",
    "tests/test_rule_properties.py",
    "tests/test_training.py::test_a_missing_plugin_names_its_distribution_and_version_and_pip_is_one_option",
    "tests/test_cli.py::test_plugins_table_is_readable",
    "tests/test_cli.py::test_plugins_and_models_keep_every_name_whole_in_80_columns",
]
"""The fast tests whose outcome depends on which rules are installed."""


def readme_plugin_files() -> dict[str, str]:
    """The documented plugin package (docs/plugins.md, linked from the README): each block
    whose first line is ``# my-fpa-rule/PATH``."""
    files = {}
    for _, body in FENCE.findall(PLUGINS_PAGE.read_text(encoding="utf-8")):
        first, _, rest = body.partition("\n")
        if first.startswith("# my-fpa-rule/"):
            files[first.removeprefix("# ")] = rest
    return files


def installed_plugin_package(tmp_path: Path) -> Path:
    """The documented plugin package written out and installed into a folder of its own (an
    entry point in group ``fpa``, as ``pip install`` gives it); that folder."""
    files = readme_plugin_files()
    assert set(files) == {"my-fpa-rule/pyproject.toml", "my-fpa-rule/src/my_fpa_rule/__init__.py"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(site), str(tmp_path / "my-fpa-rule")],
        check=True,
        capture_output=True,
    )
    return site


def test_the_plugin_sensitive_tests_hold_with_the_documented_plugin_installed(tmp_path):
    site = installed_plugin_package(tmp_path)
    tests = Path(__file__).resolve().parent
    # The plugin is there for the child, through its entry point...
    listed = run_with(site, "-c", "import fpa; print(fpa.available('rules'))")
    assert "'my-rule'" in listed.stdout, listed.stderr
    # ... and the tests that depend on what is installed still pass.
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*pytest, "-m", "not slow", *PLUGIN_SENSITIVE],
        cwd=tests.parent,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
            "FPA_HYPOTHESIS_EXAMPLES": "5",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_the_readme_plugin_package_installs_and_its_rule_is_found(tmp_path):
    site = installed_plugin_package(tmp_path)
    listed = run_with(site, "-m", "fpa", "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout)["components"] if r["name"] == "my-rule"]
    assert (row["kind"], row["distribution"], row["version"]) == ("rules", "my-fpa-rule", "0.1.0")
    code = """
import torch, fpa
G = fpa.build_generator(rule="my-rule", image_size=8, paint_steps=4, latent_dim=6, hidden_size=16)
print(G.config.rule_impl, G.rule_impl_used, tuple(G(torch.randn(2, 6)).shape))
"""
    painted = run_with(site, "-c", code)
    assert painted.returncode == 0, painted.stderr
    assert painted.stdout.split() == ["parallel", "step", "(2,", "1,", "8,", "8)"]


def test_the_wheel_carries_every_shipped_model_folder(tmp_path):
    """``pip install`` must bring the pretrained painters: each shipped folder's files are in
    the wheel, beside the module that registers them."""
    import zipfile

    from fpa.runs.model_layout import CONFIG_FILE, MODEL_FILES

    source = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("fpa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = source / "src" / "fpa" / "models" / "shipped"
    expected = {
        f"fpa/models/shipped/{folder.name}/{file}"
        for folder in shipped.iterdir()
        if (folder / CONFIG_FILE).is_file()
        for file in MODEL_FILES
    }
    assert "fpa/models/shipped/__init__.py" in names
    assert expected <= names
