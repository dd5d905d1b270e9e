"""The pipeline's stages, one folder each, in the order messages flow through them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runtime (aiohttp, aiokafka) loads with a stage, not with its name
    from shared.runtime.stage import Stage

# name -> "module:Class"; imported on demand so `mira run sink` never loads PyAV or the OpenAI SDK.
STAGES: dict[str, str] = {
    "ingest": "services.ingest.handler:IngestStage",
    "split": "services.split.handler:SplitStage",
    "framegrid": "services.framegrid.handler:FramegridStage",
    "hint": "services.hint.handler:HintStage",
    "caption": "services.caption.handler:CaptionStage",
    "sink": "services.sink.handler:SinkStage",
    "recaption": "services.recaption.handler:RecaptionStage",
}


def stage_class(name: str) -> type[Stage]:
    try:
        module, cls = STAGES[name].split(":")
    except KeyError:
        raise SystemExit(f"unknown service {name!r}; choose one of: {', '.join(STAGES)}") from None
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
