"""Every command and every option says what it does, and `mira --help` lists every command."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from cli.commands import SUMMARY


@pytest.mark.parametrize("name", list(SUMMARY))
def test_every_option_has_help(name: str) -> None:
    sub = argparse.ArgumentParser(prog="mira").add_subparsers()
    importlib.import_module(f"cli.{name}").add_parser(sub)
    parser = sub.choices[name]
    undocumented = [a.dest for a in parser._actions if not a.help]
    assert undocumented == []


def test_top_level_help_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True, text=True, check=True)
    for name, summary in SUMMARY.items():
        assert name in done.stdout and summary.split()[0] in done.stdout
