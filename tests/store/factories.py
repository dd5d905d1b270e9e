"""Caption results and bulk rows for the store tests and the export benchmark."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shared.messages import CaptionResult, Captions, CaptionStatus, ClipSpan, GridInfo, Hint, Usage, VideoInfo
from shared.store import RecordStore
from shared.store.migrations import MIGRATIONS
from shared.store.schema import RECORD_COLUMNS, records, schema_migrations


def captions(words: int = 5, tag: str = "") -> Captions:
    """Five captions of known lengths: dense `words` words, the others fixed."""
    return Captions(
        dense_caption=" ".join(f"dense{tag}{i}" for i in range(words)),
        main_object_caption=f"A red fox {tag}".strip(),
        background_caption="Snowy forest at dawn.",
        camera_caption="Static wide shot.",
        style_caption="Naturalistic documentary style.",
    )


def result(
    clip_id: str,
    job_id: str,
    *,
    status: CaptionStatus = "success",
    model: str = "gpt-4o",
    prompt_version: str = "p1",
    hint: str | None = "a fox in the snow",
    grid_sha256: str = "ab" * 32,
    caps: Captions | None = None,
    end_s: float | None = 12.5,
    request_id: str = "req-1",
) -> CaptionResult:
    success = status == "success"
    return CaptionResult(
        job_id=job_id,
        request_id=request_id,
        clip=ClipSpan(
            clip_id=clip_id, video_id="vid-1", source_uri="file:///videos/fox.mp4", start_s=2.5, end_s=end_s
        ),
        video=VideoInfo(fps=25.0, width=1280, height=720, duration_s=10.0, codec="h264"),
        grid=GridInfo(
            uri=f"file:///blobs/{grid_sha256}.jpg",
            sha256=grid_sha256,
            width=2048,
            height=576,
            frame_times_s=[2.5 + i * 1.25 for i in range(8)],
            sample_mode="exact",
            image_tokens=1445,
        ),
        hint=Hint(text=hint, source="manifest" if hint else "none"),
        status=status,
        reason=None if success else f"{status} by the test",
        captions=(caps or captions()) if success else None,
        model=model,
        prompt_version=prompt_version,
        usage=Usage(input_tokens=2000, image_tokens=1445, output_tokens=450, cost_usd=0.0095),
    )


MARKED_MODEL = "gpt-4o-mini"


def seed(store: RecordStore, clips: int, marked_every: int = 100, base: int = 1000) -> None:
    """`clips` one-version records, fast: `base` rows through record(), the rest multiplied in SQL.
    One record in `marked_every` has MARKED_MODEL, so a model filter selects that share of the rows."""
    base = min(base, clips)
    for i in range(base):
        model = MARKED_MODEL if i % marked_every == 0 else "gpt-4o"
        caps = captions(20 + i % 50, tag=str(i))
        store.record(result(f"clip-{i:07d}", f"job-{i:07d}", model=model, caps=caps))
    copies = -(-clips // base) - 1
    if copies <= 0:
        return
    src, copy = records.alias("src"), records.alias("copy")  # `copy` only numbers the copies
    n = sa.select(copy.c.id.label("n")).order_by(copy.c.id).limit(copies).subquery()
    renamed = {
        "clip_id": src.c.clip_id + "-" + sa.cast(n.c.n, sa.String),
        "job_id": src.c.job_id + "-" + sa.cast(n.c.n, sa.String),
    }
    columns = [renamed.get(c, src.c[c]) for c in RECORD_COLUMNS]
    rows = sa.select(*columns).select_from(src.join(n, sa.true())).where(src.c.id <= base).limit(clips - base)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(records).from_select(list(RECORD_COLUMNS), rows))


def migrate_to(conn: Connection, last: int) -> None:
    """Apply migrations 1..`last` as an older Mira did, for tests of what a newer one makes of its store."""
    schema_migrations.create(conn)
    for migration in MIGRATIONS[:last]:
        migration.apply(conn)
        conn.execute(sa.insert(schema_migrations).values(version=migration.number, name=migration.name,
                                                         applied_at=datetime.now(UTC)))
