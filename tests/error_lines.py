"""What every refused command prints: one ``error:`` line and exit code 2."""

from __future__ import annotations


def one_error_line(result, *fragments: str) -> str:
    """The single ``error:`` line of a failed command, holding every fragment."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
