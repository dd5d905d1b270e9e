"""A dead letter always fits in a message: a poison message as large as the broker allows, whose JSON
escaping doubles it, must still be dead-lettered rather than stop the service."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from shared import kafka
from shared.runtime.deadletter import letter_for


def record(value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic="t.clips", partition=1, offset=7, timestamp=0, timestamp_type=0, key=b"clip-1",
                          value=value, checksum=None, serialized_key_size=6, serialized_value_size=len(value),
                          headers=[])


def test_an_oversized_payload_is_cut_to_fit_and_the_reason_says_so() -> None:
    value = b'"' * (kafka.MAX_MESSAGE_BYTES - 1000)  # each quote becomes two bytes once JSON-escaped
    letter = letter_for("framegrid", record(value), "invalid ClipJob", "ValidationError")
    assert len(kafka.encode(letter)) <= kafka.MAX_MESSAGE_BYTES
    assert letter.payload and set(letter.payload) == {'"'}
    assert letter.reason.startswith("invalid ClipJob (payload cut to its first ")
    assert letter.reason.endswith(f" of {len(value)} characters to fit a message)")
    assert (letter.stage, letter.offset, letter.key) == ("framegrid", 7, "clip-1")


def test_a_payload_that_fits_is_kept_whole() -> None:
    letter = letter_for("framegrid", record(b'{"not": "a job"}'), "invalid ClipJob", "ValidationError")
    assert letter.payload == '{"not": "a job"}' and letter.reason == "invalid ClipJob"
