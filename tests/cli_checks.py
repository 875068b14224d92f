"""What every CLI test needs: invoke the app in-process, and check that bad input gives
exactly one `error: ...` line and exit code 2, never a traceback."""
from typer.testing import CliRunner

from mplm_bench.cli import app

RUNNER = CliRunner()


def invoke(*args):
    return RUNNER.invoke(app, [str(a) for a in args])


def one_line_error(result, words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert "Traceback" not in result.output
