"""The walls between rooms, read from the imports of every module (not from a list someone keeps up to date):

- a stage never imports another stage (what two stages share lives in shared/);
- shared/ never imports a stage, the CLI or the review app (it is the lowest floor);
- only shared/ talks Kafka: nothing else in the product imports aiokafka.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["shared", "services", "cli", "review"]


def _modules() -> list[Path]:
    files = [p for top in PRODUCT if (ROOT / top).is_dir() for p in (ROOT / top).rglob("*.py")]
    return sorted(files + [ROOT / "prompt.py"])


def _imports(source: str) -> set[str]:
    """Every module name a file imports, wherever in the file (lazy imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _room(relative: str) -> tuple[str, ...]:
    parts = Path(relative).parts
    return parts[:2] if parts[0] == "services" and len(parts) > 2 else parts[:1]


def _violations(relative: str, source: str) -> list[str]:
    room = _room(relative)
    found = []
    for name in sorted(_imports(source)):
        top = name.split(".")
        if top[0] == "aiokafka" and room[0] != "shared":
            found.append(f"{name}: only shared/ talks Kafka")
        if room[0] == "shared" and top[0] in {"services", "cli", "review"}:
            found.append(f"{name}: shared/ is the lowest floor")
        if room[0] == "services" and top[0] == "services" and len(top) > 1 and len(room) > 1 and top[1] != room[1]:
            found.append(f"{name}: one stage reaching into another")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_keeps_to_its_walls(path: Path) -> None:
    assert _violations(str(path.relative_to(ROOT)), path.read_text()) == []


def test_the_rules_catch_what_they_are_meant_to() -> None:
    """A check that cannot fail proves nothing: each rule fires on a file that breaks it."""
    assert _violations("services/hint/choose.py", "from services.caption.errors import describe\n") == [
        "services.caption.errors: one stage reaching into another"]
    assert _violations("services/hint/choose.py", "from services.hint.vlm import x\n") == []
    assert _violations("shared/kafka.py", "def f():\n    from cli.main import main\n") == [
        "cli.main: shared/ is the lowest floor"]
    assert _violations("cli/status.py", "import aiokafka.admin\n") == ["aiokafka.admin: only shared/ talks Kafka"]
    assert _violations("shared/kafka.py", "import aiokafka\n") == []
