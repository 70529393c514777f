"""fpa ablate: a grid trained on one budget each, a table, a contact sheet, and resuming."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

import fpa
from fpa import devices
from fpa.ablation import expand
from fpa.ablation.report import rich_table
from fpa.cli import app
from fpa.cli.ablate import parse_axis
from fpa.errors import ConfigError
from fpa.runs.checkpoint import load_checkpoint
from tiny_runs import tiny

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))


def test_grid_expands_every_combination_in_order():
    cells = expand(tiny(), {"rule": ["delta", "hebb"], "paint_steps": [2, 3]})
    assert [cell.name for cell in cells] == [
        "rule-delta_T-2",
        "rule-delta_T-3",
        "rule-hebb_T-2",
        "rule-hebb_T-3",
    ]
    assert [(c.config.generator.rule, c.config.generator.paint_steps) for c in cells] == [
        ("delta", 2),
        ("delta", 3),
        ("hebb", 2),
        ("hebb", 3),
    ]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"rulez": ["delta"]}, "did you mean 'rule'"),
        ({"rule": []}, "no values"),
        ({"rule": ["delta", "delta"]}, "repeats"),
        ({"paint_steps": [0]}, "paint_steps"),
    ],
)
def test_bad_grids_are_refused_before_training(axes, message):
    with pytest.raises(ConfigError, match=message):
        expand(tiny(), axes)


@pytest.mark.slow
def test_ablation_writes_table_and_sheet_and_skips_finished_cells(tmp_path):
    out = tmp_path / "grid"
    axes = {"rule": ["delta", "hebb"]}
    result = fpa.ablate(axes, out=out, base=tiny(train_steps=2), eval_n=100, progress=False)
    assert [row["values"] for row in result.rows] == [{"rule": "delta"}, {"rule": "hebb"}]
    for row in result.rows:
        assert row["steps"] == 2 and row["scores"]["fid"] > 0
        assert row["images_per_s"] > 0 and row["wall_s"] > 0
        generator = fpa.load(out / row["name"])  # the size counted is the cell's generator's
        assert row["parameters"] == sum(p.numel() for p in generator.parameters())
    with result.csv.open() as file:
        table = list(csv.DictReader(file))
    assert [line["rule"] for line in table] == ["delta", "hebb"]
    assert float(table[0]["fid"]) == pytest.approx(result.rows[0]["scores"]["fid"])
    assert json.loads(result.json.read_text()) == result.rows
    with Image.open(result.contact_sheet) as sheet:
        assert sheet.height == 2 * (64 + 2)  # one row of samples per configuration

    checkpoint = out / "rule-delta" / "checkpoints" / "latest.pt"
    before = checkpoint.stat().st_mtime_ns
    again = fpa.ablate(axes, out=out, base=tiny(train_steps=2), eval_n=100, progress=False)
    assert checkpoint.stat().st_mtime_ns == before  # not trained again
    assert again.rows == result.rows


def test_each_cell_is_decided_once_and_trains_as_decided(tmp_path, monkeypatch):
    """The grid decides every cell before any trains; training takes that decision as it is
    (a resume alone checks it again, against the run's own config)."""
    import fpa.ablation.grid
    import fpa.training

    decided: list[dict] = []

    def counted(real):
        def decide(request, **kwargs):
            run = real(request, **kwargs)
            decided.append(
                {"resume": kwargs.get("resume_from") is not None, **run.config.to_dict()}
            )
            return run

        return decide

    monkeypatch.setattr(fpa.ablation.grid, "decide_run", counted(fpa.ablation.grid.decide_run))
    monkeypatch.setattr(fpa.training, "decide_run", counted(fpa.training.decide_run))
    axes = {"rule": ["delta", "hebb"]}
    result = fpa.ablate(
        axes, out=tmp_path / "grid", base=tiny(train_steps=2), eval_n=100, progress=False
    )
    assert [entry["generator"]["rule"] for entry in decided] == ["delta", "hebb"]
    assert not any(entry["resume"] for entry in decided)
    for row, entry in zip(result.rows, decided, strict=True):
        checkpoint = load_checkpoint(tmp_path / "grid" / row["name"] / "checkpoints" / "latest.pt")
        assert {"resume": False, **checkpoint["config"]} == entry


@pytest.mark.slow
def test_an_unfinished_cell_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "grid"
    base = tiny(train_steps=4)
    (cell,) = expand(base, {"rule": ["delta"]})
    fpa.train(cell.config.with_overrides({"train_steps": 2}), out=out / cell.name)
    result = fpa.ablate({"rule": ["delta"]}, out=out, base=base, eval_n=100, progress=False)
    assert result.rows[0]["steps"] == 4
    logged = [
        json.loads(line)["step"]
        for line in (out / cell.name / "metrics.jsonl").read_text().splitlines()
    ]
    assert logged == [1, 2, 3, 4]  # resumed at 2, nothing repeated


@pytest.mark.slow
def test_a_finished_cell_of_another_config_is_not_mixed_in(tmp_path):
    out = tmp_path / "grid"
    fpa.ablate({"rule": ["delta"]}, out=out, base=tiny(train_steps=1), eval_n=100, progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        fpa.ablate(
            {"rule": ["delta"]},
            out=out,
            base=tiny(train_steps=1, lr=1e-3),
            eval_n=100,
            progress=False,
        )


@pytest.mark.slow
def test_time_budget_stops_each_cell(tmp_path):
    result = fpa.ablate(
        {"painter": ["lstm", "transformer"]},
        out=tmp_path / "grid",
        base=tiny(train_steps=50),
        time_budget=1e-9,
        eval_n=100,
        progress=False,
    )
    assert [row["steps"] for row in result.rows] == [1, 1]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("lr=1e-4,2e-4", ("lr", [1e-4, 2e-4])),
        ("key_activation=softmax,l2", ("key_activation", ["softmax", "l2"])),
        ("betas=[[0.5, 0.9], [0.0, 0.99]]", ("betas", [[0.5, 0.9], [0.0, 0.99]])),
        ("per_row_rate=true,false", ("per_row_rate", [True, False])),
    ],
)
def test_vary_values_are_read_as_toml(item, expected):
    assert parse_axis(item) == expected


@pytest.mark.slow
def test_ablate_command(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    out = tmp_path / "grid"
    arguments = ["ablate", "--config", str(config), "--set", "train_steps=1"]
    arguments += ["--painters", "lstm,transformer", "--eval-n", "100", "--samples", "3"]
    result = runner.invoke(app, [*arguments, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())
    assert [row["name"] for row in rows] == ["painter-lstm", "painter-transformer"]
    assert all((out / row["name"] / "ablation.json").is_file() for row in rows)
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.height == 2 * (64 + 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "nothing to vary"),
        (["--vary", "nonsense=1,2"], "unknown training option"),
        (["--paint-steps", "a,b"], "whole numbers"),
        (["--rules", "delta", "--vary", "rule=hebb"], "given twice"),
        (["--rules", "delta", "--time-budget", "0"], "--time-budget"),
        (["--rules", "delta", "--metrics", "psnr"], "--metrics takes"),
    ],
)
def test_ablate_command_bad_input(tmp_path, arguments, message):
    result = runner.invoke(app, ["ablate", "--out", str(tmp_path / "grid"), *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_one_at_a_time_changes_each_value_alone_from_the_base():
    base = tiny()
    cells = expand(
        base,
        {"rule": ["delta", "hebb", "oja"], "lr": [1e-3]},
        one_at_a_time=True,
    )
    assert [cell.name for cell in cells] == ["base", "rule-hebb", "rule-oja", "lr-0.001"]
    assert cells[0].config == base
    assert (cells[2].config.generator.rule, cells[2].config.lr) == ("oja", base.lr)
    assert (cells[3].config.generator.rule, cells[3].config.lr) == (base.generator.rule, 1e-3)


@pytest.mark.slow
def test_a_live_claim_is_respected_and_a_stale_one_taken_over(tmp_path):
    import socket
    import subprocess

    from fpa.ablation.claims import claim, claim_path

    out = tmp_path / "grid"
    assert claim(out, "cell")
    assert not claim(out, "cell")  # held by this (live) process
    dead = subprocess.Popen(["true"])
    dead.wait()
    claim_path(out, "rule-hebb").write_text(f"{socket.gethostname()} {dead.pid}\n")
    result = fpa.ablate(
        {"rule": ["hebb"]}, out=out, base=tiny(train_steps=1), eval_n=100, progress=False
    )
    assert result.rows[0]["steps"] == 1
    assert not claim_path(out, "rule-hebb").exists()  # released after training


@pytest.mark.slow
def test_one_at_a_time_table_names_its_rows(tmp_path):
    result = fpa.ablate(
        {"rule": ["delta", "hebb"]},
        out=tmp_path / "grid",
        base=tiny(train_steps=1),
        one_at_a_time=True,
        eval_n=100,
        progress=False,
    )
    with result.csv.open() as file:
        table = list(csv.DictReader(file))
    assert [(line["name"], line["rule"]) for line in table] == [("base", ""), ("rule-hebb", "hebb")]


@pytest.mark.slow
def test_a_cell_saved_before_a_new_config_field_existed_still_counts(tmp_path):
    out = tmp_path / "grid"
    first = fpa.ablate({"rule": ["delta"]}, out=out, base=tiny(train_steps=1), eval_n=100)
    saved = out / "rule-delta" / "ablation.json"
    record = json.loads(saved.read_text())
    del record["config"]["baseline"]  # as written by an fpa that had no such field
    saved.write_text(json.dumps(record))
    again = fpa.ablate({"rule": ["delta"]}, out=out, base=tiny(train_steps=1), eval_n=100)
    assert again.rows == first.rows
    # How a run reports (quiet, sample cadence) does not make it another configuration.
    louder = tiny(train_steps=1, quiet=False, sample_every=7)
    assert fpa.ablate({"rule": ["delta"]}, out=out, base=louder, eval_n=100).rows == first.rows


@pytest.mark.slow
@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"rule": ["delta", "bogus"]}, "cell rule-bogus: unknown rule 'bogus'"),
        ({"painter": ["lstm", "gru"]}, "cell painter-gru: unknown painter 'gru'"),
        ({"discriminator": ["small", "huge"]}, "unknown discriminator 'huge'"),
        ({"image_size": [[16, 16], [20, 20]]}, "cell image_size-20-20: discriminator 'small'"),
        ({"rule_options": [{}, {"no_such_option": 1}]}, "no_such_option"),
        ({"batch_size": [8, 10**12]}, "cell batch_size-1000000000000: this run needs"),
    ],
)
def test_every_cell_is_checked_before_the_first_trains(tmp_path, monkeypatch, axes, message):
    import fpa.ablation.runner

    def trained_too_early(*args, **kwargs):
        raise AssertionError("a cell trained before every cell was checked")

    monkeypatch.setattr(fpa.ablation.runner, "train", trained_too_early)
    with pytest.raises(fpa.FpaError, match=message):
        fpa.ablate(axes, out=tmp_path / "grid", base=tiny(train_steps=1), progress=False)
    assert not (tmp_path / "grid").exists()


@pytest.mark.slow
def test_ablate_with_a_bad_name_trains_nothing_and_says_so_in_one_line(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    out = tmp_path / "grid"
    arguments = ["ablate", "--config", str(config), "--rules", "delta,bogus", "--out", str(out)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ablation cell rule-bogus: unknown rule 'bogus'")
    assert not out.exists()


@pytest.mark.slow
def test_ablation_jobs_share_the_grid_and_score_what_one_process_scores(tmp_path):
    axes = {"rule": ["delta", "hebb", "oja"]}
    base = tiny(train_steps=2)
    alone = fpa.ablate(
        axes, out=tmp_path / "alone", base=base, eval_n=100, threads=1, progress=False
    )
    threads_before = torch.get_num_threads()
    shared = fpa.ablate(
        axes,
        out=tmp_path / "shared",
        base=base,
        eval_n=100,
        jobs=2,
        threads=1,
        progress=False,
        poll_seconds=0.2,
    )
    assert torch.get_num_threads() == threads_before  # the caller's setting is given back
    assert [row["scores"] for row in shared.rows] == [row["scores"] for row in alone.rows]
    assert [(row["steps"], row["threads"]) for row in shared.rows] == [(2, 1)] * 3
    assert not list((tmp_path / "shared" / ".claims").iterdir())  # every claim released


@pytest.mark.parametrize(("cores", "jobs", "threads"), [(8, 1, 8), (8, 3, 2), (2, 2, 1), (2, 6, 1)])
def test_each_job_gets_a_fair_share_of_the_cores(monkeypatch, cores, jobs, threads):
    monkeypatch.setattr(devices, "cpu_cores", lambda: cores)
    assert devices.threads_per_job(jobs) == threads


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--threads", "0"]])
def test_ablate_refuses_no_jobs_or_threads_in_one_line(tmp_path, args):
    result = runner.invoke(
        app, ["ablate", "--rules", "delta", "--out", str(tmp_path / "grid"), *args]
    )
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "at least 1" in result.output
    assert not (tmp_path / "grid").exists()


def test_the_table_keeps_every_value_whole_in_80_columns():
    rows = [
        {
            "name": f"painter-{painter}_rule-{rule}",
            "values": {"painter": painter, "rule": rule},
            "scores": {"fid": 123.456, "kid": 0.01234, "kid_std": 8.79e-16},
            **{"images_per_s": 61.23, "threads": 1, "parameters": 484289},
            **{"wall_s": 840.2, "steps": 3000},
        }
        for painter in ("lstm", "transformer")
        for rule in ("delta", "oja")
    ]
    console = Console(file=io.StringIO(), width=80)
    console.print(rich_table(rows, title="ablation in runs/ablation"))
    drawn = console.file.getvalue()
    assert all(len(line) <= 80 for line in drawn.splitlines()), drawn
    header, *lines = [line.split() for line in drawn.splitlines()[1:] if "─" not in line]
    assert header == [
        "painter",
        "rule",
        "fid",
        "kid",
        "kid_std",
        "img/s",
        "threads",
        "params",
        "wall",
        "s",
        "steps",
    ]
    assert lines[2] == [
        "transformer",
        "delta",
        "123.5",
        "0.01234",
        "8.79e-16",
        "61.23",
        "1",
        "484289",
        "840.2",
        "3000",
    ]
