"""Frozen copies of the tables as migrations 1 and 2 created them (before migration 6 added the quality
columns), so a new database is built by the same steps as an old one was. Never change these."""

from __future__ import annotations

import sqlalchemy as sa

from shared.store.schema import UtcDateTime

metadata = sa.MetaData()

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
    sa.UniqueConstraint("clip_id", "version", name="uq_caption_records_clip_version"),
    sa.UniqueConstraint("job_id", name="uq_caption_records_job"),
    sa.Index("ix_caption_records_grid", "grid_sha256", "prompt_version", "model"),
    sa.Index("ix_caption_records_video", "video_id", "id"),
    sa.Index("ix_caption_records_status", "status", "id"),
)

model_answers = sa.Table(
    "model_answers",
    metadata,
    sa.Column("answer_key", sa.String(64), primary_key=True),
    sa.Column("captions", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
