"""Rows for the 10M-record store benchmark (tests/bench/store.py), bulk-loaded with COPY into the store's
real tables (made by the real migrations): no model call and no record() per row.

Clip `k` is a pure function of k, so the benchmark can load the store in steps (clips 0..a, then a..b) and
later rebuild any clip's grid, hint, text hash or answer key to look it up. What the rows hold, per clip:
- captions of MiraData's lengths (short ~14 words, dense ~87, main object ~66, background ~64, camera ~65,
  style ~30), made of sentences from a pool picked by the clip's hash, so every dense caption differs;
- version history: 1 clip in 10 has 3 versions, 1 in 10 has 2 (older versions: an older prompt and
  gpt-4o-mini); 1 clip in 20 has only an old-prompt version (what `--prompt-version-not` selects);
- the newest version failed for 1 clip in 50, refused or truncated for 1 in 200 each; quality ok, suspect
  (1 in 20, with reasons) or unchecked (1 in 20); a verdict on 1 clip in 500 (accepted) or 1,000 (rejected);
- an answer-log row (model_answers, full captions) for 1 successful version in ANSWER_EVERY: the log keeps
  every paid answer, but at 10M a full log would double the disk this benchmark needs; its look-up is a
  primary-key probe whose cost does not depend on how full the table is.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import ids
from shared.store import answers

CURRENT_PROMPT, OLD_PROMPT = "pv-current-0001", "pv-old-0000"
ANSWER_EVERY = 5
_BASE_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z

_SUBJECTS = ["a young woman in a red coat", "an elderly man with a grey beard", "a golden retriever",
             "two children on bicycles", "a white delivery van", "a flock of seagulls", "a chef in a white apron",
             "a cyclist in a yellow jersey", "a small fishing boat", "a black cat", "a group of hikers",
             "a street musician", "a red sports car", "a herd of cattle", "a surfer in a wetsuit"]
_VERBS = ["walks slowly along", "runs across", "stands still beside", "turns toward", "moves steadily through",
          "pauses near", "glides over", "drifts past", "climbs up", "waits at"]
_PLACES = ["a narrow cobblestone street", "a sunlit beach", "a busy city intersection", "a quiet forest trail",
           "a crowded market square", "a misty mountain ridge", "a wooden pier", "a snowy park",
           "a modern kitchen", "an empty parking lot", "a wheat field at dusk", "a rain-soaked platform"]
_DETAILS = ["while soft light falls from the left", "as leaves move gently in the wind",
            "with tall buildings rising in the background", "under a pale overcast sky",
            "as people pass by out of focus", "with long shadows stretching across the ground",
            "while water reflects the warm evening light", "as the scene grows slightly darker",
            "with distant traffic visible behind", "as small waves roll in behind"]
_CAMERA = ["The camera holds a steady medium shot", "The camera pans slowly from left to right",
           "A handheld shot follows the movement closely", "The camera tilts up gradually",
           "A wide establishing shot stays fixed", "The camera tracks forward at walking pace",
           "A close-up slowly pulls back to a wide view", "The shot zooms in gently"]
_STYLE = ["naturalistic and documentary in feel", "cinematic with shallow depth of field",
          "bright and saturated like a travel commercial", "muted and melancholic with cool tones",
          "gritty and grainy like handheld news footage", "clean and polished with soft contrast"]


def _sentences(rng: random.Random, count: int, make: str) -> list[str]:
    out = []
    for _ in range(count):
        if make == "camera":
            text = f"{rng.choice(_CAMERA)} on {rng.choice(_SUBJECTS)}, {rng.choice(_DETAILS)}."
        elif make == "style":
            text = f"The footage looks {rng.choice(_STYLE)}, {rng.choice(_DETAILS)}."
        else:
            text = f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_PLACES)} " \
                   f"{rng.choice(_DETAILS)}."
        out.append(text)
    return out


_rng = random.Random(25)
_POOL = _sentences(_rng, 4096, "scene")
_CAM_POOL = _sentences(_rng, 1024, "camera")
_STYLE_POOL = _sentences(_rng, 256, "style")
_NORM = [" ".join(re.findall(r"\w+", s.lower())) for s in _POOL]
# Sentences per caption type, about MiraData's mean word counts (a pool sentence is 15-20 words).
_DENSE, _MAIN, _BACKGROUND, _CAMERA_N, _STYLE_N = 5, 4, 4, 4, 2


def _blocks(pool: list[str], sentences: int, count: int) -> list[str]:
    return [" ".join(_rng.choice(pool) for _ in range(sentences)) for _ in range(count)]


_MAIN_BLOCKS, _BACKGROUND_BLOCKS = _blocks(_POOL, _MAIN, 4096), _blocks(_POOL, _BACKGROUND, 4096)
_CAMERA_BLOCKS, _STYLE_BLOCKS = _blocks(_CAM_POOL, _CAMERA_N, 1024), _blocks(_STYLE_POOL, _STYLE_N, 256)


@dataclass(frozen=True)
class Clip:
    k: int
    clip_id: str
    video_id: str
    grid_sha256: str  # of the newest version
    hint: str
    dense: str
    text_hash: str
    versions: int
    newest_status: str


def clip(k: int) -> Clip:
    h = hashlib.sha256(k.to_bytes(8, "little")).digest()
    picks = [int.from_bytes(h[2 * i:2 * i + 2], "little") % len(_POOL) for i in range(6)]
    dense = " ".join(_POOL[i] for i in picks[:_DENSE])
    norm = " ".join(_NORM[i] for i in picks[:_DENSE])
    versions = 3 if k % 10 == 0 else 2 if k % 10 == 1 else 1
    status = ("failed" if k % 50 == 3 else "refused" if k % 200 == 7 else "truncated" if k % 200 == 8
              else "success")
    return Clip(k, h[:8].hex(), ids.digest("video", k // 10, length=12), h.hex(),
                _POOL[picks[5]].split(",")[0].rstrip(".") + ".", dense,
                hashlib.sha256(norm.encode()).hexdigest()[:32], versions, status)


_NULL = "\\N"
_REASONS = json.dumps([{"rule": "frame_talk", "field": "dense_caption", "detail": "mentions 'first frame'"}])
_FRAME_TIMES = [json.dumps([round(s * 10.0 + 0.625 + i * 1.25, 3) for i in range(8)]) for s in range(50)]


def _row(c: Clip, version: int) -> tuple[str, str | None]:
    """One version's COPY line (text format, columns in RECORD_COLUMNS order) and, for some successes, its
    answer-log line. Written as one f-string: the load's Python side must keep up with PostgreSQL's COPY."""
    newest = version == c.versions
    old = not newest or c.k % 20 == 2
    prompt, model = (OLD_PROMPT, "gpt-4o-mini") if old else (CURRENT_PROMPT, "gpt-4o")
    status = c.newest_status if newest else "success"
    grid = c.grid_sha256 if newest else hashlib.sha256(f"{c.k}/{version}".encode()).hexdigest()
    ok = status == "success"
    dense, text_hash = (c.dense, c.text_hash) if newest else _older_dense(c.k, version)
    pick = int(c.grid_sha256[8:16], 16)  # the other captions: pre-joined blocks picked by the grid's hash
    main, background = _MAIN_BLOCKS[pick % 4096], _BACKGROUND_BLOCKS[(pick >> 12) % 4096]
    camera, style = _CAMERA_BLOCKS[(pick >> 3) % 1024], _STYLE_BLOCKS[(pick >> 7) % 256]
    captions = f"{dense}\t{main}\t{background}\t{camera}\t{style}" if ok else "\t".join([_NULL] * 5)
    quality = _NULL if not ok or c.k % 20 == 6 else "suspect" if c.k % 20 == 5 else "ok"
    reasons = _NULL if quality == _NULL else _REASONS if quality == "suspect" else "[]"
    repair = "improved" if quality == "suspect" and c.k % 40 == 5 else _NULL
    verdict = ("rejected" if c.k % 1000 == 9 else "accepted" if c.k % 500 == 4 else _NULL) if newest else _NULL
    created = _BASE_EPOCH + c.k + version * 86_400
    judged = (f"{verdict}\treviewer@example.com\t{_iso(created + 3600)}" if verdict != _NULL
              else f"{_NULL}\t{_NULL}\t{_NULL}")
    start = c.k % 50
    line = (f"{c.clip_id}\t{c.video_id}\ts3://footage/raw/{c.video_id}.mp4\t{start * 10}.0\t{start * 10 + 10}.0\t"
            f"30.0\t1920\t1080\t10.0\t{c.hint}\t{captions}\t{version}\t{status}\t"
            f"{_NULL if ok else status + ': the model said no'}\t{model}\t{prompt}\tmanifest\t"
            f"{_FRAME_TIMES[start]}\ts3://mira-grids/sha256/{grid[:2]}/{grid}.jpg\t{grid}\t"
            f"2210\t1445\t{520 if ok else 0}\t{0.010725 if ok else 0.0}\t{_iso(created)}\t"
            f"{ids.digest('job', c.k, version)}\t{'req-initial' if version == 1 else f'req-recaption-{version}'}\t"
            f"{quality}\t{reasons}\t{repair}\t{_NULL}\t{text_hash if ok else _NULL}\t{judged}")
    answer = None
    if ok and c.k % ANSWER_EVERY == 0:
        logged = json.dumps({"dense_caption": dense, "main_object_caption": main, "background_caption": background,
                             "camera_caption": camera, "style_caption": style})
        answer = (f"{answers.answer_key(grid, c.hint, prompt, model)}\t{logged}\t{_iso(created)}\t{grid}\t"
                  f"{text_hash}")
    return line, answer


def _older_dense(k: int, version: int) -> tuple[str, str]:
    """An older version's dense caption (other sentences) and its text hash."""
    h = hashlib.sha256(f"{k}/{version}/dense".encode()).digest()
    picks = [int.from_bytes(h[2 * i:2 * i + 2], "little") % len(_POOL) for i in range(_DENSE)]
    norm = " ".join(_NORM[i] for i in picks)
    return " ".join(_POOL[i] for i in picks), hashlib.sha256(norm.encode()).hexdigest()[:32]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def rows(first: int, stop: int) -> Iterator[tuple[str, str | None]]:
    """(record line, answer line or None) for every version of clips first..stop-1."""
    for k in range(first, stop):
        c = clip(k)
        for version in range(1, c.versions + 1):
            yield _row(c, version)


def chunk(span: tuple[int, int]) -> tuple[str, str]:
    """COPY text of clips span[0]..span[1]-1: (records, answer log), for a worker process."""
    recs, logged = [], []
    for line, answer in rows(*span):
        recs.append(line)
        if answer is not None:
            logged.append(answer)
    return "".join(f"{r}\n" for r in recs), "".join(f"{a}\n" for a in logged)


def versions_before(clips: int) -> int:
    """How many record versions clips 0..clips-1 have (13 per 10 clips)."""
    full, rest = divmod(clips, 10)
    return full * 13 + sum(3 if k == 0 else 2 if k == 1 else 1 for k in range(rest))


def clips_for(versions: int) -> int:
    """The number of clips whose versions come to about `versions` rows."""
    return versions * 10 // 13
