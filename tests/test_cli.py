"""The `unimse` console script: every stage is listed with its one-line description, and runs."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import unimse_core
from stages.cli import COMMANDS, main


def test_help_lists_every_stage_with_its_own_description():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name, (module_name, summary) in COMMANDS.items():
        command = importlib.import_module(module_name).command
        first_line = command.help.strip().splitlines()[0]
        assert first_line == summary, f"{name}: docstring says {first_line!r}"
        assert name in result.output
    assert "Download missing raw files" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"unimse, version {unimse_core.__version__}"


def test_console_script_is_installed():
    # The entry point of setup.cfg, installed beside the interpreter, as dvc.yaml calls it.
    script = Path(sys.executable).parent / "unimse"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"unimse, version {unimse_core.__version__}"


def test_unknown_command_fails():
    result = CliRunner().invoke(main, ["train-everything"])
    assert result.exit_code != 0
    assert "No such command" in result.output
