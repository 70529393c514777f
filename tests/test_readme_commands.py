"""The ```bash blocks of the README and of the docs pages it hands its detail to, run or
parsed, so that their commands cannot drift from the CLI.

Every command of every block is classified, and a command of a new kind fails the test:

- run as written, in a temporary folder (``fpa``/``.venv/bin/fpa`` replaced by
  ``sys.executable -m fpa``): ``fpa plugins``, ``fpa models``, ``fpa preview``, ``fpa --help``,
  and ``fpa sample``/``fpa paint`` of a model fpa ships (the first example: it must work);
- run with ``--dry-run`` added (config resolved, models built, nothing trained): every
  ``fpa train`` that neither resumes nor starts from another run;
- parsed only, by the command's own parser, every option converted but nothing invoked:
  ``fpa train --resume`` and ``--init-from``, ``sample``, ``paint``, ``interpolate``,
  ``evaluate``, ``ablate``, ``import-fpainter``, ``report``, ``decompose`` and ``project``
  (their images need not exist), and the fpa part of ``torchrun ... -m fpa``;
- not fpa, so left alone: the set-up commands (``python3 -m venv``, ``pip``), the test
  command (``python -m pytest``), the benchmark scripts and ``tensorboard``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

import fpa
from fpa.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    *(ROOT / "docs" / name for name in ("usage.md", "presets.md", "plugins.md", "scale-out.md")),
]
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
FPA = ("fpa", ".venv/bin/fpa")
NOT_FPA = ("python3", ".venv/bin/pip", ".venv/bin/python", "source", "tensorboard", "bash")
RUN_AS_WRITTEN = ("plugins", "models", "preview", "--help")
USES_A_MODEL = ("sample", "paint")
NEEDS_ANOTHER_RUN = ("--resume", "--init-from")

# Every test here starts child Pythons: slow.
pytestmark = pytest.mark.slow


def readme_commands() -> list[tuple[dict[str, str], list[str]]]:
    """``(environment, argv)`` of every command in the pages' bash blocks, comments and
    line continuations removed, ``&&`` chains split."""
    commands = []
    blocks = [b for page in PAGES for b in BASH_BLOCK.findall(page.read_text(encoding="utf-8"))]
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                end = words.index("&&") if "&&" in words else len(words)
                command, words = words[:end], words[end + 1 :]
                env = {}
                while command and re.fullmatch(r"[A-Z_]+=\S*", command[0]):
                    name, _, value = command.pop(0).partition("=")
                    env[name] = value
                commands.append((env, command))
    return commands


def fpa_arguments(argv: list[str]) -> list[str] | None:
    """The arguments given to fpa (``fpa ARGS``, ``torchrun ... -m fpa ARGS``), or None."""
    if argv[0] in FPA:
        return argv[1:]
    if argv[0] == "torchrun":
        start = next(i for i in range(len(argv) - 1) if argv[i : i + 2] == ["-m", "fpa"])
        return argv[start + 2 :]
    assert argv[0] in NOT_FPA, f"a README command of a new kind, not covered here: {argv}"
    return None


def how(argv: list[str]) -> str:
    """``run``, ``dry-run``, ``parse`` or ``skip`` for one README command."""
    args = fpa_arguments(argv)
    if args is None:
        return "skip"
    if argv[0] == "torchrun":
        return "parse"  # the processes would need a rendezvous
    if args[0] in RUN_AS_WRITTEN:
        return "run"
    if args[0] in USES_A_MODEL and len(args) > 1 and args[1] in fpa.available("models"):
        return "run"
    if args[0] == "train" and not any(option in args for option in NEEDS_ANOTHER_RUN):
        return "dry-run"
    return "parse"


COMMANDS = readme_commands()


def parse(args: list[str]) -> None:
    """Parse ``fpa ARGS`` with the command's own parser (types converted), invoking nothing."""
    group = get_command(app)
    name, rest = args[0], args[1:]
    with group.make_context("fpa", [name]) as context:
        command = group.get_command(context, name)
        assert command is not None, f"fpa has no command {name!r}"
        command.make_context(name, rest, parent=context)


def test_every_readme_command_is_covered():
    kinds = [how(argv) for _, argv in COMMANDS]
    assert kinds.count("run") >= 1 and kinds.count("dry-run") >= 5 and kinds.count("parse") >= 10


@pytest.mark.parametrize(
    ("env", "argv"),
    [pytest.param(env, argv, id=" ".join(argv)[:70]) for env, argv in COMMANDS],
)
def test_a_readme_command_runs_or_parses(env, argv, tmp_path):
    kind = how(argv)
    if kind == "skip":
        pytest.skip("not an fpa command (set-up, tests, benchmarks)")
    args = fpa_arguments(argv)
    assert args is not None
    if kind == "parse":
        parse(args)
        return
    extra = ["--dry-run"] if kind == "dry-run" and "--dry-run" not in args else []
    source = str(Path(fpa.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "fpa", *args, *extra],
        cwd=tmp_path,
        env={**os.environ, **env, "PYTHONPATH": path, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if kind == "dry-run":
        assert '"parameters"' in done.stderr and not any(tmp_path.iterdir())
