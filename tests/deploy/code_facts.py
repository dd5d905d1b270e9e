"""What the code says the deployment must match: stages, topics, consumer groups, settings, limits.

Everything here is read from the code itself (the stage registry, the settings classes, the Topic enum,
the Kafka client limits, pyproject), never copied, so a change on either side shows up as a failing test.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services import STAGES, stage_class
from shared.settings import MiraSettings, Settings
from shared.topics import Topic

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# Read by boto3 itself: shared/blobstore.py builds its S3 client without explicit credentials.
SDK_ENV = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})


@dataclass(frozen=True)
class StageFacts:
    name: str
    consumes: Topic
    group_id: str


def stages() -> list[StageFacts]:
    facts = []
    for name in STAGES:
        cls = stage_class(name)
        facts.append(StageFacts(cls.name, cls.consumes, cls.group_id()))
    return facts


def stage_settings(service: str) -> list[type[MiraSettings]]:
    """The settings classes a service reads: the shared ones and those of services/<service>/settings.py."""
    module_name = f"services.{service}.settings"
    if importlib.util.find_spec(module_name) is None:
        return [Settings]
    module = importlib.import_module(module_name)
    own = [obj for obj in vars(module).values()
           if isinstance(obj, type) and issubclass(obj, MiraSettings) and obj.__module__ == module_name]
    return [Settings, *own]


def all_settings() -> set[type[BaseSettings]]:
    classes: set[type[BaseSettings]] = set()
    for name in STAGES:
        classes.update(stage_settings(name))
    return classes


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (case-insensitive, so upper-cased)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def environ_reads() -> set[str]:
    """Names the code reads straight from os.environ / os.getenv (outside any settings class)."""
    names = set()
    for path in _project_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _is_environ_read(node.func) and node.args:
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                key = node.slice
            else:
                continue
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                names.add(key.value)
    return names


@functools.cache
def known_env_names() -> frozenset[str]:
    names = set(SDK_ENV) | environ_reads()
    for cls in all_settings():
        names |= env_names(cls)
    return frozenset(names)


def project_version() -> str:
    return str(PYPROJECT["project"]["version"])


def package_roots() -> set[str]:
    """Top-level packages and modules the project installs (what the image must copy)."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    packages = {pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]}
    return packages | {f"{module}.py" for module in setuptools.get("py-modules", [])}


def _is_environ_read(func: ast.expr) -> bool:
    return ast.unparse(func) in ("os.environ.get", "os.getenv")


def _project_sources() -> Iterator[Path]:
    for root in sorted(package_roots()):
        path = ROOT / root
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def uses(service: str, setting: str) -> bool:
    """Whether the service's own code reads a shared setting (`database_url`, `blob_url`): the services that
    use the database or the object store, which alone get its credentials and network access."""
    folder = ROOT / "services" / service
    return any(f"settings.{setting}" in path.read_text() for path in sorted(folder.glob("*.py")))


def settings_of(service: str, environ: dict[str, str]) -> dict[type[MiraSettings], MiraSettings]:
    """The service's settings as its process would load them from exactly `environ` (and nothing else)."""
    with mock.patch.dict(os.environ, environ, clear=True):
        return {cls: cls() for cls in stage_settings(service)}
