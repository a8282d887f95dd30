"""The README's two quickstart commands stay true: (b) is exactly what ``.ci/run`` runs, and
(a) is a command line the CLI accepts."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The one-line commands of the README's ```bash blocks, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in readme_commands() if "pytest" in c)
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_quickstart_command_parses_with_the_cli():
    from rllib_tmd.cli import build_parser

    quickstart = next(c for c in readme_commands() if "rllib-tmd quickstart" in c)
    assert quickstart.startswith("pip install")
    cli_args = quickstart.split("rllib-tmd", 1)[1].split()
    build_parser().parse_args(cli_args)  # exits (SystemExit) on an unknown subcommand
