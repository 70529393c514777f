"""The report's HTML: one self-contained file (styles inline, pictures as data URIs, curves as
inline SVG), so it opens offline and travels as one attachment. Layout only: the curves are
matplotlib's (:mod:`fpa.report.plots`), the tables the runs' own numbers."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from fpa.ablation.report import columns, flat, formatted
from fpa.report.plots import curves_svg
from fpa.report.runs import AblationRecord, Collection, RunRecord

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1180px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
section { margin-bottom: 2.5em; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1em; }
.plots svg { width: 100%; height: auto; }
.grids { display: flex; flex-wrap: wrap; gap: .8em; }
figure { margin: 0; text-align: center; font-size: .85em; }
img { image-rendering: pixelated; max-width: 100%; }
.grids img { width: 240px; }
table { border-collapse: collapse; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .8em; }
.note { color: #777; font-style: italic; }
"""


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes, mime: str, alt: str) -> str:
    return f'<img src="{data_uri(data, mime)}" alt="{escape(alt)}">'


def anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in name)


def plot_or_note(svg: str | None, what: str) -> str:
    return svg if svg is not None else f'<p class="note">{escape(what)}</p>'


def curves(runs: list[RunRecord]) -> str:
    """Losses, scores (best marked) and speed of ``runs``, overlaid when there are several."""
    losses = curves_svg(runs, ["loss_d", "loss_g"], title="D and G losses", ylabel="hinge loss")
    fid = curves_svg(runs, ["fid"], title="FID (lower is better)", ylabel="FID", best=True)
    kid = curves_svg(runs, ["kid"], title="KID (lower is better)", ylabel="KID", best=True)
    speed = curves_svg(runs, ["images_per_s"], title="training speed", ylabel="images/s")
    unscored = "no FID/KID logged (train with --eval-every N to measure them)"
    scores = [svg for svg in (fid, kid) if svg is not None] or [plot_or_note(None, unscored)]
    cells = [
        ("losses", plot_or_note(losses, "no losses logged yet")),
        *(("scores", svg) for svg in scores),
        ("speed", plot_or_note(speed, "no speed logged yet")),
    ]
    inner = "".join(f'<div class="{name}">{content}</div>' for name, content in cells)
    return f'<div class="plots">{inner}</div>'


def summary_row(run: RunRecord) -> dict[str, Any]:
    last = run.steps[-1] if run.steps else {}
    fid = run.best("fid")
    kid = run.best("kid")
    return {
        "run": f'<a href="#{anchor(run.name)}">{escape(run.name)}</a>',
        "steps": last.get("step", 0),
        "loss_d": last.get("loss_d", ""),
        "loss_g": last.get("loss_g", ""),
        "best FID (step)": f"{fid[1]:.4g} ({fid[0]})" if fid else "",
        "best KID (step)": f"{kid[1]:.4g} ({kid[0]})" if kid else "",
        "images/s": last.get("images_per_s", ""),
    }


def html_table(rows: list[dict[str, Any]], names: list[str], *, escaped: bool = True) -> str:
    """A table of ``rows`` by the columns ``names``; ``escaped=False`` keeps cells that are
    already HTML (the overview's links to each run's section)."""

    def cell(value: Any) -> str:
        text = formatted(value)
        return f"<td>{escape(text) if escaped else text}</td>"

    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    body = "".join(
        "<tr>" + "".join(cell(row.get(name, "")) for name in names) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def ablation_section(ablation: AblationRecord) -> str:
    names = columns(ablation.rows)
    table = html_table([flat(row) for row in ablation.rows], names)
    sheet = (
        image(ablation.contact_sheet, "image/png", "contact sheet")
        if ablation.contact_sheet
        else '<p class="note">no contact sheet yet</p>'
    )
    return (
        f'<section class="ablation" id="ablation-{escape(ablation.folder.name)}">'
        f"<h2>Ablation {escape(str(ablation.folder))}</h2>"
        f'<div class="results">{table}</div>'
        f'<h3>Contact sheet</h3><div class="contact-sheet">{sheet}</div></section>'
    )


def overview_section(collection: Collection) -> str:
    rows = [summary_row(run) for run in collection.runs]
    names = list(rows[0])
    return (
        '<section class="overview" id="overview"><h2>All runs</h2>'
        f'<div class="results">{html_table(rows, names, escaped=False)}</div>'
        f"{curves(collection.runs)}</section>"
    )


def skipped_note(run: RunRecord) -> str:
    """A note of the lines of the run's log that could not be read, if any."""
    if not run.skipped_lines:
        return ""
    return f'<p class="note">{run.skipped_lines} unreadable line(s) of metrics.jsonl left out</p>'


def run_section(run: RunRecord) -> str:
    grids = "".join(
        f"<figure>{image(png, 'image/png', f'samples at step {step}')}"
        f"<figcaption>step {step}</figcaption></figure>"
        for step, png in run.samples
    )
    animation = (
        f"<figure>{image(run.animation, 'image/gif', 'painting animation')}"
        "<figcaption>the latest EMA generator painting, step by step</figcaption></figure>"
        if run.animation
        else '<p class="note">no painting animation (a baseline, or no checkpoint)</p>'
    )
    return (
        f'<section class="run" id="{anchor(run.name)}"><h2>{escape(run.name)}</h2>'
        f"<p>{escape(str(run.folder))}</p>{skipped_note(run)}"
        f'<details class="config"><summary>config.toml</summary>'
        f"<pre>{escape(run.config_toml)}</pre></details>"
        f"{curves([run])}"
        f'<h3>EMA samples over time</h3><div class="grids samples">'
        f"{grids or '<p class=note>no sample grids yet</p>'}</div>"
        f'<h3>Painting</h3><div class="animation">{animation}</div></section>'
    )


def page(collection: Collection, *, title: str) -> str:
    parts = [ablation_section(ablation) for ablation in collection.ablations]
    if len(collection.runs) > 1:
        parts.append(overview_section(collection))
    parts += [run_section(run) for run in collection.runs]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )
