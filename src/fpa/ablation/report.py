"""The ablation's outputs: one table (rich, CSV, JSON) and a contact sheet of samples."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont
from rich import box
from rich.markup import escape
from rich.table import Table

from fpa.files import atomic_write_bytes

SCORE_COLUMNS = ("fid", "kid", "kid_std")
RUN_COLUMNS = ("images_per_s", "threads", "parameters", "wall_s", "steps")
TABLE_CSV = "results.csv"
TABLE_JSON = "results.json"


def columns(rows: list[dict[str, Any]]) -> list[str]:
    axes = list(dict.fromkeys(key for row in rows for key in row["values"]))
    scores = [c for c in SCORE_COLUMNS if any(c in row["scores"] for row in rows)]
    # One axis changed at a time: the cells' names say what each row changed.
    named = any(len(row["values"]) < len(axes) for row in rows)
    return [*(["name"] if named else []), *axes, *scores, *RUN_COLUMNS]


def flat(row: dict[str, Any]) -> dict[str, Any]:
    runs = {key: row.get(key, "") for key in RUN_COLUMNS}  # rows saved before a column existed
    return {"name": row["name"], **row["values"], **row["scores"], **runs}


def formatted(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


SHORT_HEADERS = {"images_per_s": "img/s", "parameters": "params", "wall_s": "wall s"}
"""Headers shortened on the terminal, so the table fits 80 columns; the files keep the names."""


def rich_table(rows: list[dict[str, Any]], *, title: str) -> Table:
    """The table on a terminal: no column rules and one space between columns, and a value
    too wide for its cell folds onto another line instead of being cut."""
    table = Table(title=escape(title), box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    names = columns(rows)
    for name in names:
        table.add_column(
            escape(SHORT_HEADERS.get(name, name)),
            justify="right" if name in (*SCORE_COLUMNS, *RUN_COLUMNS) else "left",
            overflow="fold",
        )
    for row in rows:
        values = flat(row)
        table.add_row(*(escape(formatted(values.get(name, ""))) for name in names))
    return table


def write_tables(rows: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    """``results.csv`` and ``results.json`` in ``out``, both written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns(rows), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(flat(row))
    csv_path = atomic_write_bytes(out / TABLE_CSV, text.getvalue().encode())
    json_path = atomic_write_bytes(out / TABLE_JSON, (json.dumps(rows, indent=2) + "\n").encode())
    return csv_path, json_path


def contact_sheet(rows: list[tuple[str, torch.Tensor]], *, cell: int = 64) -> bytes:
    """One labelled row of samples per configuration, as PNG bytes.

    ``rows`` holds (label, images ``(N, C, H, W)`` in [-1, 1]); every image is scaled to
    ``cell`` pixels high (nearest neighbour, so pixels stay visible) and shown in RGB.
    """
    font = ImageFont.load_default()
    label_width = max(int(font.getlength(label)) for label, _ in rows) + 12
    widths = [round(cell * images.shape[-1] / images.shape[-2]) for _, images in rows]
    count = max(len(images) for _, images in rows)
    gap = 2
    sheet = Image.new(
        "RGB", (label_width + count * (max(widths) + gap), len(rows) * (cell + gap)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for index, ((label, images), width) in enumerate(zip(rows, widths, strict=True)):
        top = index * (cell + gap)
        draw.text((6, top + cell // 2), label, fill="black", font=font, anchor="lm")
        pixels = ((images[:, :3].float().clamp(-1, 1) + 1) * 127.5).round().byte()
        for column, image in enumerate(pixels):
            array = image.expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy()
            tile = Image.fromarray(array).resize((width, cell), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_width + column * (max(widths) + gap), top))
    buffer = io.BytesIO()
    sheet.save(buffer, format="png")
    return buffer.getvalue()
