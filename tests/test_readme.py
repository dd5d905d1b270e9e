"""The README's command lines work as written, read from the README itself (not from a copy of its lines):

- every `make` target it names is a target of the Makefile;
- every `mira` command line of its code blocks parses: the command exists and takes those options;
- every option an inline `mira COMMAND ...` mention names is an option of that command;
- `make run` (its recipe, as `make -n` prints it) and then each line of "See your captions" run for real in a
  fresh folder with no key, as a newcomer's clone would; lines that keep running (`mira review`) are parsed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cli.commands import SUMMARY

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
LONG_RUNNING = {"review", "up", "run"}  # serve until stopped


COMMAND_LINE = re.compile(r"(?:[A-Z_]+=\S+ +)*(?:\.venv/bin/)?(?:mira|make|head) ")


def code_lines(text: str) -> list[str]:
    """Every command line of every fenced code block (comments removed; example output left out)."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if COMMAND_LINE.match(line)]


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def words(line: str) -> list[str]:
    """The command's words, without leading VAR=value assignments and the .venv/bin/ prefix."""
    tokens = shlex.split(line)
    while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
        tokens.pop(0)
    if tokens:
        tokens[0] = tokens[0].removeprefix(".venv/bin/")
    return tokens


def parser_for(command: str) -> argparse.ArgumentParser:
    assert command in SUMMARY, f"the README names `mira {command}`, which does not exist"
    sub = argparse.ArgumentParser(prog="mira").add_subparsers()
    importlib.import_module(f"cli.{command}").add_parser(sub)
    return sub.choices[command]  # type: ignore[no-any-return]


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    """The options of a command and of its actions (`mira qa recheck --latest`, `mira deadletters replay ...`)."""
    found = set()
    for action in parser._actions:
        found |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= options_of(sub)
    return found


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def test_every_make_target_the_readme_names_exists() -> None:
    named = set(re.findall(r"`make ([a-z][\w-]*)", README))
    named |= {w[1] for w in map(words, code_lines(README)) if w[:1] == ["make"] and len(w) > 1}
    assert {"run", "test"} <= named
    assert named - makefile_targets() == set()


@pytest.mark.parametrize("line", [line for line in code_lines(README) if words(line)[:1] == ["mira"]])
def test_every_mira_command_line_parses(line: str) -> None:
    command, *args = words(line)[1:]
    try:
        parser_for(command).parse_args([a.replace("~", str(Path.home())) for a in args])
    except SystemExit as exc:
        pytest.fail(f"`{line}` does not parse (exit {exc.code})")


def test_every_option_an_inline_mention_names_exists() -> None:
    mentions = re.findall(r"`mira ([a-z]+)([^`]*)`", README)
    assert len(mentions) > 10
    for command, rest in mentions:
        options = options_of(parser_for(command))
        unknown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", rest)) - options
        assert not unknown, f"`mira {command}{rest}`: {sorted(unknown)} are not options of mira {command}"


def test_make_run_then_see_your_captions_as_written(tmp_path: Path) -> None:
    """A fresh folder with the project's virtualenv and nothing else: no key, no MIRA_HOME, no records."""
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRA_", "OPENAI_"))}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))  # the recipe's `-m tests.media.samples`

    def sh(line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    recipe = subprocess.run(["make", "-s", "-n", "-o", ".venv/.installed", "run"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(recipe) == 2, recipe  # the samples, then the run itself
    ran = [sh(line) for line in recipe][-1]
    assert "review page:" in ran.stdout and "real model:" in ran.stdout

    for line in code_lines(section("See your captions")):
        if words(line)[:2] in (["mira", c] for c in LONG_RUNNING):
            continue  # parsed by test_every_mira_command_line_parses
        done = sh(line)
        if line.startswith("head "):
            assert '"model": "mira-placeholder"' in done.stdout
    assert (tmp_path / "out" / "captions.csv").read_text().count("\n") == 5  # a header and 4 clips
    assert (tmp_path / "out" / "lengths.png").read_bytes()[:4] == b"\x89PNG"
