"""``fpa report`` as a reader sees it: the HTML parsed, every section present, every picture
decoded, every curve with as many points as the run logged, nothing fetched from elsewhere."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from PIL import Image
from typer.testing import CliRunner

import fpa
from fpa.cli import app
from tiny_runs import tiny

pytest.importorskip("matplotlib", reason="the report draws with matplotlib (fpa[plots])")

RUN_PARTS = ("config", "losses", "scores", "speed", "samples", "animation")


class Page(HTMLParser):
    """What a check needs of the report: element classes by section, images, links, and the
    first path (the line) of every ``curve:``/``best:`` SVG group."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, set[str]] = {}
        self.section: str | None = None
        self.images: list[str] = []
        self.links: list[str] = []
        self.groups: dict[str, str | None] = {}
        self.open_group: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.section = attributes["id"]
            self.sections[self.section] = set()
        elif self.section is not None and "class" in attributes:
            self.sections[self.section].update(attributes["class"].split())
        if tag == "img":
            self.images.append(attributes["src"])
        for name in ("href", "src", "xlink:href"):
            if name in attributes:
                self.links.append(attributes[name])
        group = attributes.get("id", "")
        if tag == "g" and group.startswith(("curve:", "best:")):
            self.groups[group] = None
            self.open_group = group
        elif tag == "path" and self.open_group and self.groups[self.open_group] is None:
            self.groups[self.open_group] = attributes.get("d", "")
            self.open_group = None


def points(path: str) -> int:
    return len(re.findall(r"[ML]", path))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    first = root / "first"
    fpa.train(tiny(eval_every=2, eval_n=100, train_steps=4), out=first, progress=False)
    second = root / "second"
    shutil.copytree(first, second)
    ablation = root / "ablation"
    ablation.mkdir()
    rows = []
    for name, fid in (("rule=delta", 3.0), ("rule=hebb", 4.0)):
        shutil.copytree(first, ablation / name)
        rows.append(
            {
                "name": name,
                "values": {"rule": name.split("=")[1]},
                "scores": {"fid": fid},
                "images_per_s": 10.0,
                "parameters": 1000,
                "wall_s": 1.0,
                "steps": 4,
            }
        )
    (ablation / "results.json").write_text(json.dumps(rows))
    Image.new("RGB", (40, 20), "white").save(ablation / "contact_sheet.png")
    return first, second, ablation


def report_of(paths, out, *options: str) -> Page:
    command = ["report", *map(str, paths), "--out", str(out), *options]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    return Page(out.read_text(encoding="utf-8"))


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_run_report_has_every_section_picture_and_point(runs, tmp_path):
    first = runs[0]
    page = report_of([first], tmp_path / "report.html")
    assert set(RUN_PARTS) <= page.sections["run-first"]
    records = logged(first)
    steps = [r for r in records if "event" not in r]
    evals = [r for r in records if r.get("event") == "eval"]
    for key, count in (
        ("loss_d", len(steps)),
        ("loss_g", len(steps)),
        ("images_per_s", len(steps)),
    ):
        assert points(page.groups[f"curve:first:{key}"]) == count == 4
    assert points(page.groups["curve:first:fid"]) == len(evals) == 2
    assert "best:first:fid" in page.groups  # the best FID is marked
    decoded = [decode(src) for src in page.images]
    assert len(decoded) == 3 + 1  # the sample grids of steps 0, 2, 4, then the animation
    assert decoded[-1].format == "GIF" and decoded[-1].n_frames > 1
    assert all(link.startswith(("data:", "#")) for link in page.links)  # nothing from outside


@pytest.mark.slow
def test_several_runs_and_an_ablation_are_overlaid_and_tabled(runs, tmp_path):
    first, second, ablation = runs
    page = report_of([first, second, ablation], tmp_path / "report.html", "--no-animation")
    assert {"results", "contact-sheet"} <= page.sections["ablation-ablation"]
    assert {"results", "losses", "scores", "speed"} <= page.sections["overview"]
    names = ["first", "second", "ablation/rule=delta", "ablation/rule=hebb"]
    for name in names:
        assert f"run-{re.sub(r'[^0-9a-zA-Z]', '-', name)}" in page.sections
        # once in the overview's overlay, once in the run's own section
        assert points(page.groups[f"curve:{name}:loss_g"]) == 4
    for src in page.images:
        decode(src)


def test_a_folder_that_holds_no_run_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:") and "holds no fpa run" in result.output
    assert not (tmp_path / "r.html").exists()


def decode(src: str) -> Image.Image:
    header, _, data = src.partition(",")
    assert header.startswith("data:image/") and header.endswith(";base64")
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image
