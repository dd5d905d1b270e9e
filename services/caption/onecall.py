"""One model call per question (grid, hint, prompt version, model), however many deliveries ask it at once.
A quality repair of that answer is a question of its own (`Question.repair`), asked and logged the same way,
so a redelivery reuses the repair too instead of paying for a second one.

Within a process, deliveries of one question share a single flight: the first runs it, the others await
its outcome (a refetch after a rebalance, or two jobs over one grid). Across replicas, the flight first
takes the question's claim in the record store (shared.store.claims) and renews its lease while the call
runs; a replica that finds the claim held waits, looking at the answer log every MIRA_CAPTION_CLAIM_POLL_S,
and takes the claim over once its lease has passed (its owner died). The answer log is read again after
the claim is taken, and once more right before the request is sent when something may have answered it
since: the budget or the rate limiter held the request back, the claim was taken over from an owner that
may still be finishing its own call, or half a second passed. An answer that arrived meanwhile is used
instead of paid for again.

The flight runs as its own task: a delivery cancelled by a rebalance does not cancel a call that others,
here or on the partition's next owner, are waiting for; and a stop lets a call already sent land first.
An answer that arrives while the record store is down is kept in memory (shared/writebehind.py) and logged,
its claim released with it, once the store answers again; meanwhile it answers its question here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from services.caption.captioner import BeforeSend, CaptionOutcome
from services.caption.settings import CaptionSettings
from shared.messages import Captions, Usage
from shared.runtime import outage
from shared.store import claims
from shared.store.answers import answer_key
from shared.store.records import RecordStore
from shared.writebehind import WriteBehind

log = logging.getLogger(__name__)
RunBlocking = Callable[..., Awaitable[Any]]
Call = Callable[[BeforeSend], Awaitable[CaptionOutcome]]


class Answered(Exception):  # not a failure: the answer arrived before the request left
    def __init__(self, captions: Captions) -> None:
        super().__init__("answered while waiting to send")
        self.captions = captions


@dataclass(frozen=True)
class Question:
    grid_sha256: str
    hint: str | None
    prompt_version: str
    model: str
    repair: bool = False  # the quality repair of this question's answer

    @property
    def key(self) -> str:
        return answer_key(self.grid_sha256, self.hint, self.prompt_version, self.model, self.repair)

    @property
    def fields(self) -> tuple[str, str | None, str, str]:
        return self.grid_sha256, self.hint, self.prompt_version, self.model

    def repairing(self) -> Question:
        return replace(self, repair=True)

    def reused(self, captions: Captions) -> CaptionOutcome:
        return CaptionOutcome("success", None, captions, self.model, self.prompt_version, Usage())


# A request that nothing held back still looks again before it goes when its last look is this old (a slow
# blob read, a busy loop): shorter windows are small beside the call itself, during which an answer logged
# elsewhere would be paid for anyway.
LOOK_AGAIN_AFTER_S = 0.5

@dataclass
class Flight:
    task: asyncio.Task[tuple[CaptionOutcome, bool]]  # (outcome, whether it was paid for here)
    billed: bool = False  # whether a delivery has carried its cost yet


class OneCall:
    def __init__(self, store: RecordStore, settings: CaptionSettings, run_blocking: RunBlocking,
                 stopping: asyncio.Event) -> None:
        self.store = store
        self.stopping = stopping
        self.lease_s = settings.caption_claim_lease_s
        self.poll_s = settings.caption_claim_poll_s
        self.run = run_blocking
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.flights: dict[str, Flight] = {}
        self.remembering: set[asyncio.Future[bool]] = set()  # answers in hand, being written to the log
        self.sent: set[str] = set()  # questions whose flight has sent its request: paid for, or about to be
        self.unlogged: WriteBehind[tuple[Question, Captions]] = WriteBehind(self._log_answer, "an answer paid for")

    async def ask(self, question: Question, call: Call) -> tuple[CaptionOutcome, bool]:
        """The question's outcome, and whether this delivery paid for it. Of the deliveries sharing a call,
        the first one told of it carries its cost (also when the one that started it was cancelled by a
        rebalance); the others report none, so records never count one call twice."""
        key = question.key
        flight = self.flights.get(key)
        if flight is None:
            flight = Flight(asyncio.get_running_loop().create_task(self._fly(question, call)))
            self.flights[key] = flight
            flight.task.add_done_callback(lambda done: self._landed(key, done))
        outcome, paid = await asyncio.shield(flight.task)
        if paid and not flight.billed:
            flight.billed = True
            return outcome, True
        return replace(outcome, usage=Usage()), False

    async def aclose(self) -> None:
        """Cancel flights still running (their claims are released, or lapse with their lease), but first let
        those already paid for land: a request that is out gets its answer, an answer in hand reaches the
        answer log. Cancelling them would have the question's next owner pay again. Flights whose delivery a
        rebalance took away are among them, with no delivery left for the runner to wait for; the runner
        bounds this wait by what is left of the shutdown grace."""
        try:
            paid_for = {self.flights[key].task for key in self.sent if key in self.flights} | self.remembering
            if paid_for:
                await asyncio.wait(paid_for)
        finally:
            tasks = [flight.task for flight in self.flights.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.unlogged.aclose()

    def _landed(self, key: str, task: asyncio.Task[Any]) -> None:
        flight = self.flights.get(key)
        if flight is not None and flight.task is task:
            del self.flights[key]
            self.sent.discard(key)
        if not task.cancelled():
            task.exception()  # retrieved: its askers (if any are left) re-raise it themselves

    async def _fly(self, q: Question, call: Call) -> tuple[CaptionOutcome, bool]:
        waited = False
        while True:
            if (kept := self.unlogged.get(q.key)) is not None:  # paid for during an outage, not logged yet
                return q.reused(kept[1]), False
            paid, taken = await self.run(self._look_and_claim, q)
            if paid is not None and taken is None:
                return q.reused(paid), False
            if taken is not None:
                break
            if not waited:
                waited = True
                log.info("question %s is being asked by another replica; waiting for its answer", q.key[:12])
            await asyncio.sleep(self.poll_s)
        loop = asyncio.get_running_loop()
        looked_at = loop.time()
        renewer = loop.create_task(self._renew(q.key))
        released = False
        try:
            if paid is not None:  # answered between the look and the claim
                return q.reused(paid), False
            try:
                outcome = await call(lambda held_back: self._before_send(q, taken, held_back,
                                                                         loop.time() - looked_at))
            except Answered as answered:
                return q.reused(answered.captions), False
            if outcome.captions is not None:  # logged before anyone is told: a crash from here never pays again
                renewer.cancel()  # the claim is given up with the answer (a renewal after it would find it gone)
                writing = asyncio.ensure_future(self._remember(q, outcome.captions))
                self.remembering.add(writing)
                writing.add_done_callback(self.remembering.discard)
                released = await asyncio.shield(writing)  # a stop that cancels this flight still lets it finish
            return outcome, True
        finally:
            renewer.cancel()
            if not released:
                await self._release(q.key)

    def _look_and_claim(self, q: Question) -> tuple[Captions | None, claims.Taken | None]:
        """One trip to the store (blocking): the answer if it is paid for already; else the claim and, once it
        is ours, a second look, for an answer that landed between the first look and the claim."""
        if (paid := self.store.paid_answer(*q.fields, q.repair)) is not None:
            return paid, None
        if (taken := claims.take(self.store.engine, q.key, self.owner, self.lease_s)) is None:
            return None, None
        try:
            return self.store.paid_answer(*q.fields, q.repair), taken
        except BaseException:
            claims.release(self.store.engine, q.key, self.owner)
            raise

    async def _paid(self, q: Question) -> Captions | None:
        found: Captions | None = await self.run(self.store.paid_answer, *q.fields, q.repair)
        return found

    def _log_answer(self, _key: str, answer: tuple[Question, Captions]) -> None:
        q, captions = answer
        self.store.remember_answer(*q.fields, captions, self.owner, q.repair)

    async def _remember(self, q: Question, captions: Captions) -> bool:
        """Log the answer and release the claim with it, in one transaction, now or (the store down) once it
        answers again; whether the claim goes with it."""
        try:
            # Threads of its own: never queued behind claim polls in the stage's pool while a stop is coming.
            await self.unlogged.write(q.key, (q, captions))
            return True
        except sa.exc.SQLAlchemyError as exc:
            # The answer is paid for and still goes out (the sink's record keeps it); raising would only make
            # the retry pay again.
            log.warning("could not log the answer to question %s (%s); publishing it anyway", q.key[:12], exc)
            return False

    async def _before_send(self, q: Question, taken: claims.Taken, held_back: bool, since_look_s: float) -> None:
        """Raise Answered when the answer turned up since the look after the claim; else note that the request
        goes out (a stop lets it land). Nobody else asks while the claim is ours; an answer can still come from
        an owner whose lease lapsed (most likely the one we took the claim over from), the likelier the longer
        the budget or the rate limiter held this call. So the store is asked after a takeover or a wait;
        otherwise the look just made stands, a trip saved per call.

        Once the service is stopping no request leaves, a retry after a 429 included: its answer could come
        back after the grace and be lost, and the message's next owner would pay again. The flight ends as
        cancelled, so its message stays uncommitted for that owner."""
        if self.stopping.is_set():
            raise asyncio.CancelledError("stopping: no new model request goes out")
        may_be_answered = taken != "new" or held_back or since_look_s >= LOOK_AGAIN_AFTER_S
        if may_be_answered and (paid := await self._paid(q)) is not None:
            raise Answered(paid)
        self.sent.add(q.key)

    async def _renew(self, key: str) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if not await self.run(claims.renew, self.store.engine, key, self.owner, self.lease_s):
                    log.warning("the claim on question %s lapsed and was taken over; another replica may "
                                "ask it too", key[:12])
                    return
                failing = False
            except sa.exc.SQLAlchemyError as exc:
                if not failing:  # once per spell: an outage of the store would repeat it every few seconds
                    log.warning("could not renew the claim on question %s (%s); retrying", key[:12], exc)
                failing = True

    async def _release(self, key: str) -> None:
        try:
            await asyncio.shield(self.run(claims.release, self.store.engine, key, self.owner))
        except sa.exc.SQLAlchemyError as exc:  # the lease runs out instead; waiters then take it over
            # During an outage of the store (which the runtime reports once) this would be a line per flight.
            level = logging.DEBUG if outage.dependency_down(exc) else logging.WARNING
            log.log(level, "could not release the claim on question %s (%s)", key[:12], exc)
