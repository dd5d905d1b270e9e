"""The tables, declared once with SQLAlchemy Core so the same definitions serve SQLite and PostgreSQL.

`caption_records` has exactly the fields of shared.messages.CaptionRecord plus a surrogate `id`; rows are
only ever inserted. (clip_id, version) and job_id are unique: the database itself refuses a version gap
filled twice or a redelivered job recorded twice, whatever the writers do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both backends.

    SQLite stores datetimes as text without an offset, so values are normalised to UTC before they are
    written (which also keeps text comparisons such as `created_at < :t` correct) and marked UTC when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# What `mira status` reads of every version besides its clip and version number (ix_caption_records_newest).
NEWEST_COVERS = ("status", "quality", "repair", "input_tokens", "image_tokens", "output_tokens", "cost_usd")

records = sa.Table(
    "caption_records",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("clip_id", sa.String(128), nullable=False),
    sa.Column("video_id", sa.String(128), nullable=False),
    sa.Column("source_uri", sa.Text(), nullable=False),
    sa.Column("start_s", sa.Float(), nullable=False),
    sa.Column("end_s", sa.Float(), nullable=False),
    sa.Column("fps", sa.Float(), nullable=False),
    sa.Column("width", sa.Integer(), nullable=False),
    sa.Column("height", sa.Integer(), nullable=False),
    sa.Column("duration_s", sa.Float(), nullable=False),
    sa.Column("short_caption", sa.Text()),
    sa.Column("dense_caption", sa.Text()),
    sa.Column("main_object_caption", sa.Text()),
    sa.Column("background_caption", sa.Text()),
    sa.Column("camera_caption", sa.Text()),
    sa.Column("style_caption", sa.Text()),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("prompt_version", sa.String(64), nullable=False),
    sa.Column("hint_source", sa.String(16), nullable=False),
    sa.Column("frame_times_s", sa.JSON(), nullable=False),
    sa.Column("grid_uri", sa.Text(), nullable=False),
    sa.Column("grid_sha256", sa.String(64), nullable=False),
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("image_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("cost_usd", sa.Float(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("job_id", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    # Quality (migration 6). The captions of a version never change; these columns are written again only
    # by `mira qa recheck` (quality, reasons, text hash) and by a reviewer's verdict.
    sa.Column("quality", sa.String(8)),
    sa.Column("quality_reasons", sa.JSON()),
    sa.Column("repair", sa.String(16)),
    sa.Column("repair_reasons", sa.JSON()),
    sa.Column("text_hash", sa.String(32)),
    sa.Column("verdict", sa.String(16)),
    sa.Column("verdict_by", sa.String(200)),
    sa.Column("verdict_at", UtcDateTime()),
    sa.UniqueConstraint("clip_id", "version", name="uq_caption_records_clip_version"),
    sa.UniqueConstraint("job_id", name="uq_caption_records_job"),
    # find_success: "was this exact grid already captioned with this prompt and model?"
    sa.Index("ix_caption_records_grid", "grid_sha256", "prompt_version", "model"),
    # The review gallery (shared/store/browse.py) pages newest first by id; these keep its rare filters (one
    # video, failed clips) from scanning every row to fill a page (migration 5 adds them to older databases).
    sa.Index("ix_caption_records_video", "video_id", "id"),
    sa.Index("ix_caption_records_status", "status", "id"),
    # The duplicate rule: "has another grid's record this dense caption?" is one probe of this index.
    sa.Index("ix_caption_records_text_hash", "text_hash", "grid_sha256"),
    sa.Index("ix_caption_records_quality", "quality", "id"),
    # Migration 8, for stores of tens of millions of versions (tests/bench/store.py): `mira status` and the
    # quality totals read each clip's newest version and the token and cost sums from this index alone
    # (a tenth of a row's bytes: captions stay in the table), and verdict filters find their few rows.
    sa.Index("ix_caption_records_newest", "clip_id", "version", *NEWEST_COVERS),
    sa.Index("ix_caption_records_verdict", "verdict", "id"),
)

# Every column of a record except the surrogate key: the CaptionRecord fields, in table order.
RECORD_COLUMNS: tuple[str, ...] = tuple(c.name for c in records.columns if c.name != "id")

# Successful model answers, written the moment they arrive (before the result is published), so a caption
# service that crashes before the sink records its result never pays for the same answer again.
model_answers = sa.Table(
    "model_answers",
    metadata,
    sa.Column("answer_key", sa.String(64), primary_key=True),  # grid, hint, prompt version and model
    sa.Column("captions", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Migration 6: answers reach the duplicate rule as soon as they are paid for, before any record has them.
    sa.Column("grid_sha256", sa.String(64)),
    sa.Column("text_hash", sa.String(32)),
    sa.Index("ix_model_answers_text_hash", "text_hash", "grid_sha256"),
)

# One model call per question across replicas: the replica that inserts a question's row calls the model
# and renews `lease_until` while it does; the others wait for its answer, or take the row over once the
# lease has passed (its owner died).
model_claims = sa.Table(
    "model_claims",
    metadata,
    sa.Column("answer_key", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("lease_until", UtcDateTime(), nullable=False),
)

# Model-made hints by grid, hint model and hint settings: a redelivered grid gets the same sentence, so the
# caption question (and its answer-log key) stays the same.
model_hints = sa.Table(
    "model_hints",
    metadata,
    sa.Column("hint_key", sa.String(64), primary_key=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Spend against MIRA_BUDGET_USD shared by every caption replica, in nano-dollars so reservations release
# exactly: `reserved_nano` is the worst case of calls in flight, `spent_nano` what settled calls cost.
budget_tallies = sa.Table(
    "budget_tallies",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spent_nano", sa.BigInteger(), nullable=False),
    sa.Column("reserved_nano", sa.BigInteger(), nullable=False),
)

# Which Batch API batch holds which request (custom_id): whichever replica owns a partition next reads the
# batch already paid for instead of submitting the same request again.
batch_ledger = sa.Table(
    "batch_ledger",
    metadata,
    sa.Column("custom_id", sa.String(64), primary_key=True),
    sa.Column("batch_id", sa.String(200), nullable=False),
    sa.Column("submitted_at", UtcDateTime(), nullable=False),
)

# What each first-submission job id stands for (a fingerprint of source, range and hint): a later submission
# of the same id with other content is refused instead of being dropped as a duplicate (shared/store/jobs.py).
job_identities = sa.Table(
    "job_identities",
    metadata,
    sa.Column("job_id", sa.String(128), primary_key=True),
    sa.Column("clip_id", sa.String(128), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Each source's shot boundaries as the split stage finds them (shared/store/cuts.py): how far the scan got,
# so a redelivered video resumes there, and the finished cut list, so recaptioning, review and a second
# submission of the same video never decode it again to find them. Keyed by source and detector version.
split_cuts = sa.Table(
    "split_cuts",
    metadata,
    sa.Column("source_key", sa.String(64), primary_key=True),
    sa.Column("video_id", sa.String(128), nullable=False),
    sa.Column("source_uri", sa.Text(), nullable=False),  # public form: no credentials
    sa.Column("request_id", sa.String(128), nullable=False),  # of the scan that wrote it last
    sa.Column("duration_s", sa.Float(), nullable=False),
    sa.Column("scanned_to_s", sa.Float(), nullable=False),  # every boundary before this is in `cuts`
    sa.Column("complete", sa.Boolean(), nullable=False),
    sa.Column("cuts", sa.JSON(), nullable=False),  # [{time_s, kind, start_s, end_s}, ...]
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", UtcDateTime(), nullable=False),
)
