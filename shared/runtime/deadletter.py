"""What a dead letter says: the stage, the reason and the original payload, and where it came from.

A poison message may be as large as the broker allows; wrapped in a letter (and JSON-escaped) it could
exceed the producer's request limit and never be written, which would stop the service on the very input
dead letters exist for. So an oversized payload is cut to fit, and the reason says so.
"""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from shared import kafka
from shared.messages import DeadLetter

ENVELOPE_ROOM = 64 * 1024  # bytes kept free for the letter's other fields and the longer reason


def letter_for(stage: str, record: ConsumerRecord, reason: str, error_type: str,
               message: BaseModel | None = None) -> DeadLetter:
    clip = getattr(message, "clip", None)
    payload = (record.value or b"").decode(errors="replace")
    letter = DeadLetter(
        stage=stage, reason=reason, error_type=error_type,
        source_topic=record.topic, partition=record.partition, offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        job_id=getattr(message, "job_id", None), clip_id=getattr(clip, "clip_id", None),
        payload=payload,
    )
    size = len(kafka.encode(letter))
    full = letter.payload  # as redacted
    keep = len(full)
    while size > kafka.MAX_MESSAGE_BYTES - ENVELOPE_ROOM and keep > 0:
        keep = keep * (kafka.MAX_MESSAGE_BYTES - ENVELOPE_ROOM) // size * 9 // 10  # escaping is uneven: shrink
        size = len(kafka.encode(letter.model_copy(update={"payload": full[:keep]})))
    if keep == len(full):
        return letter
    return letter.model_copy(update={
        "payload": full[:keep],
        "reason": f"{letter.reason} (payload cut to its first {keep} of {len(full)} characters to fit a message)",
    })
