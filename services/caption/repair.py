"""Quality on every caption answer, and one repair of a suspect one.

Each successful answer goes through the rules (shared/qa/rules.py) with the duplicate look-up made here, in
the store, first. A suspect answer is asked again once (MIRA_CAPTION_REPAIR=once) with the problems named;
the repair is its own question for the pay-once machinery (onecall.py), so a redelivery or a second replica
reuses the logged repair instead of paying for another. The better of the two answers is kept (the one with
fewer distinct problems; the first on a tie), with the reasons of what was kept, what the repair was asked
to fix, and the cost of both calls. A question is never asked more than twice: an answer that already took
a second call (an unusable first reply, repaired by the captioner) gets no quality repair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

import prompt
from services.caption import reply
from services.caption.batch import BatchCaptioner
from services.caption.captioner import BeforeSend, Captioner, CaptionOutcome
from services.caption.onecall import OneCall, Question
from services.caption.settings import CaptionSettings
from shared.messages import Captions, HintReady, Quality, QualityReason, RepairOutcome, Usage
from shared.qa import rules
from shared.store import quality
from shared.store.records import RecordStore

RunBlocking = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Checked:
    """An outcome with its quality: what the sink records."""

    outcome: CaptionOutcome
    usage: Usage  # of every call this delivery paid for
    quality: Quality | None = None
    reasons: list[QualityReason] = field(default_factory=list)
    repair: RepairOutcome | None = None
    repair_reasons: list[QualityReason] = field(default_factory=list)


class Repairs:
    def __init__(self, settings: CaptionSettings, store: RecordStore, one_call: OneCall,
                 captioner: Captioner | BatchCaptioner, load: Callable[[str], Awaitable[bytes]],
                 run_blocking: RunBlocking, registry: CollectorRegistry) -> None:
        self.s, self.store, self.one_call, self.captioner = settings, store, one_call, captioner
        self.load, self.run = load, run_blocking
        self.checked = Counter("mira_caption_quality", "Caption answers by quality as recorded (ok, suspect)",
                               ["quality"], registry=registry)
        self.flagged = Counter("mira_caption_suspect_rules", "Problems found in first answers, by rule", ["rule"],
                               registry=registry)
        self.repairs = Counter("mira_caption_repairs", "Repairs by outcome (repaired, improved, kept_first)",
                               ["outcome"], registry=registry)

    async def reasons(self, captions: Captions, hint: str | None, grid_sha256: str) -> list[QualityReason]:
        duplicate = await self.run(quality.duplicate_of, self.store.engine, rules.text_hash(captions.dense_caption),
                                   grid_sha256)
        return rules.check(captions.parts(), self.s.context(prompt.clean_hint(hint), duplicate, prompt.LANGUAGE))

    async def check(self, message: HintReady, question: Question, outcome: CaptionOutcome) -> Checked:
        first = outcome.captions
        if outcome.status != "success" or first is None:
            return Checked(outcome, outcome.usage)
        found = await self.reasons(first, message.hint.text, message.grid.sha256)
        for reason in found:
            self.flagged.labels(reason.rule).inc()
        if not found or self.s.caption_repair == "off" or outcome.calls > 1:
            return self._counted(Checked(outcome, outcome.usage, "suspect" if found else "ok", found))
        second = await self._repair(message, question, first, found)
        usage = reply.add(outcome.usage, second.usage)
        if second.status == "success" and second.captions is not None:
            again = await self.reasons(second.captions, message.hint.text, message.grid.sha256)
            if rules.score(again) < rules.score(found):
                kept = CaptionOutcome("success", None, second.captions, outcome.model, outcome.prompt_version,
                                      usage)
                return self._counted(Checked(kept, usage, "suspect" if again else "ok", again,
                                             "improved" if again else "repaired", found))
        return self._counted(Checked(outcome, usage, "suspect", found, "kept_first", found))

    async def _repair(self, message: HintReady, question: Question, answer: Captions,
                      found: list[QualityReason]) -> CaptionOutcome:
        problems = [f"{r.field}: {r.detail}" for r in found]

        async def grid() -> bytes:
            return await self.load(message.grid.uri)

        async def call(before_send: BeforeSend) -> CaptionOutcome:
            return await self.captioner.repair(grid, message.grid.width, message.grid.height, message.hint.text,
                                               question.model, answer, problems, before_send)

        outcome, _ = await self.one_call.ask(question.repairing(), call)
        return outcome

    def _counted(self, checked: Checked) -> Checked:
        if checked.quality is not None:
            self.checked.labels(checked.quality).inc()
        if checked.repair is not None:
            self.repairs.labels(checked.repair).inc()
        return checked
