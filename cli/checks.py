"""One settings check for every command and service, run before anything starts.

Each settings class a command (or the services it starts) will read is built once up front; the first bad
value becomes one line naming the variable, the value and what is allowed, and the command exits with
status 2. Without it a typo surfaced as a pydantic traceback, or as a child service restarting forever.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic_settings import SettingsError

CONFIG_ERROR = 2
CLASSES = {
    "common": "shared.settings:Settings",
    "ingest": "services.ingest.settings:IngestSettings",
    "split": "services.split.settings:SplitSettings",
    "framegrid": "services.framegrid.settings:FramegridSettings",
    "hint": "services.hint.settings:HintSettings",
    "caption": "services.caption.settings:CaptionSettings",
    "quality": "shared.qa.settings:QualitySettings",
}
EVERY = tuple(CLASSES)
# What each command reads, itself or through the services it starts.
COMMAND_USES: dict[str, tuple[str, ...]] = {
    "caption": EVERY, "up": EVERY, "recaption": EVERY, "review": EVERY,
    "grid": ("framegrid",), "export": ("common",), "stats": ("common",), "status": ("common",),
    "qa": ("common", "quality"),
}


class ConfigError(Exception):
    """A setting Mira cannot run with; str() is the one line to show."""


def settings_for(command: str, service: str | None = None) -> tuple[str, ...]:
    if command == "run":
        return ("common", service) if service in CLASSES else ("common",)
    return COMMAND_USES.get(command, EVERY)


def check(names: tuple[str, ...]) -> None:
    """Build each named settings class from the environment; raise ConfigError on the first bad value."""
    for name in names:
        module, cls_name = CLASSES[name].split(":")
        cls: type[BaseModel] = getattr(importlib.import_module(module), cls_name)
        try:
            cls()
        except ValidationError as exc:
            raise ConfigError(describe(cls, exc)) from None
        except SettingsError as exc:  # a value pydantic-settings could not even decode (a list, say)
            raise ConfigError(f"bad setting: {exc}") from None


def describe(cls: type[BaseModel], exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else None
    allowed = _allowed(first)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if field is None or field not in cls.model_fields:  # a rule across fields: its message names them
        return f"bad settings: {allowed}{more}"
    return f"bad setting {env_name(cls, field)}={first.get('input')!r}: {allowed}{more}"


def env_name(cls: type[BaseModel], field: str) -> str:
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _allowed(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    return message


def check_or_exit(command: str, service: str | None = None) -> None:
    """The entry point's guard: one line on stderr and exit status 2 for a bad setting."""
    try:
        check(settings_for(command, service))
    except ConfigError as exc:
        print(f"mira {command}: {exc}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR) from None
