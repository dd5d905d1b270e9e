"""What a chaos run did, counted from what users and the bill see: the record store, the dead-letter topic
and the model server's call log, never from the services' own metrics.

A question paid more than once is split by what happened to the earlier payments: if one of them was
returned to a caller that was not SIGKILLed in the moments after (`ANSWER_WINDOW_S`), the answer could have
been recorded and the repeat was avoidable (a failure); if every earlier caller died while the model was
answering or before the answer was written down, paying again is the window no design can close.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import kafka
from shared.messages import CaptionRecord, DeadLetter
from shared.settings import Settings
from shared.topics import Topic

ANSWER_WINDOW_S = 2.0  # time a caller has, after the answer arrived, to write it down before it counts

COLUMNS = ("seed", "clips", "recorded once", "lost", "extra versions", "model calls", "429s",
           "paid twice: answer returned", "paid twice: killed mid-call", "dead letters", "kills", "stops",
           "scale ups/downs", "broker kills", "leader changes", "no quorum s", "crashes/hangs", "wall s", "result")


@dataclass
class Outcome:
    seed: int
    clips: int
    recorded_once: int
    lost: int
    extra_versions: int
    caption_calls: int
    hint_calls: int
    throttled: int
    repaid_returned: int
    repaid_killed: int
    dead_letters: int
    kills: int
    stops: int
    scaled: tuple[int, int]
    bad_exits: int
    wall_s: float
    notes: list[str] = field(default_factory=list)
    broker_kills: int = 0
    leader_changes: int = 0  # partition leader elections the brokers logged
    without_quorum_s: float = 0.0  # time fewer than two of three brokers were serving

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.extra_versions == 0 and self.repaid_returned == 0

    def row(self) -> tuple[str, ...]:
        return (str(self.seed), str(self.clips), str(self.recorded_once), str(self.lost), str(self.extra_versions),
                f"{self.caption_calls + self.hint_calls} ({self.caption_calls} caption, {self.hint_calls} hint)",
                str(self.throttled), str(self.repaid_returned), str(self.repaid_killed), str(self.dead_letters),
                str(self.kills), str(self.stops), f"{self.scaled[0]}/{self.scaled[1]}", str(self.broker_kills),
                str(self.leader_changes), f"{self.without_quorum_s:.0f}", str(self.bad_exits),
                f"{self.wall_s:.0f}", "pass" if self.passed else "FAIL")


def table(outcomes: Iterable[Outcome]) -> str:
    """A Markdown table, one row per seed (README-ready)."""
    rows = [COLUMNS, *(o.row() for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def versions_by_clip(records: Iterable[CaptionRecord], wanted: set[str]) -> Counter[str]:
    return Counter(r.clip_id for r in records if r.clip_id in wanted)


async def group_states(settings: Settings, groups: Iterable[str]) -> list[str]:
    """Each consumer group's state and member count as the broker reports it (why work stopped moving).
    One group at a time: the embedded broker sometimes answers with a response that does not decode."""
    out = []
    for group in groups:
        admin = AIOKafkaAdminClient(**kafka.client_options(settings))
        try:
            await admin.start()
            for response in await admin.describe_consumer_groups([group]):
                for _error, name, state, _protocol_type, _protocol, members in response.groups:
                    out.append(f"group {name}: {state}, {len(members)} members")
        except Exception as exc:  # noqa: BLE001 - a diagnostic: say what failed and go on
            out.append(f"group {group}: not described ({type(exc).__name__}: {exc})")
        finally:
            await admin.close()
    return out


class DeadLetterReader:
    """Reads the dead-letter topic from the beginning without joining a group, a little more each poll."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.letters: list[DeadLetter] = []
        self._consumer = kafka.make_consumer(settings, group_id=None)

    async def start(self) -> None:
        await self._consumer.start()
        name = kafka.topic_name(self.settings, Topic.DEAD_LETTERS)
        parts = [TopicPartition(name, p) for p in range(self.settings.topic_partitions)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_beginning(*parts)

    async def poll(self, timeout_ms: int = 100) -> list[DeadLetter]:
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            self.letters.extend(kafka.decode(DeadLetter, r.value) for r in records)
        return self.letters

    async def drain(self, quiet_s: float = 1.0) -> list[DeadLetter]:
        """Poll until nothing new arrives for `quiet_s`."""
        while True:
            before = len(self.letters)
            await self.poll(timeout_ms=int(quiet_s * 1000))
            if len(self.letters) == before:
                return self.letters
            await asyncio.sleep(0)

    async def stop(self) -> None:
        await self._consumer.stop()
