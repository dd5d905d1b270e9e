"""The prompt: hint sentence, version hash, and a grid description that matches the image actually sent."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

import prompt
from services.caption.captioner import Captioner
from services.framegrid.render import render_grid
from services.framegrid.settings import FramegridSettings
from shared.messages import ClipSpan
from tests.fake_openai import FakeOpenAI
from tests.media.frames import crop_content, read_index
from tests.media.videos import make_video


def test_hint_goes_in_as_a_quoted_depicts_sentence() -> None:
    text = prompt.build_prompt('A dog runs on "the" beach. ')
    assert "this video depicts \"A dog runs on 'the' beach\"." in text
    assert "depicts" not in prompt.build_prompt(None)
    assert "depicts" not in prompt.build_prompt("   ")
    # Both variants ask for the same five parts.
    for name in ("dense_caption", "main_object_caption", "background_caption", "camera_caption",
                 "style_caption"):
        assert name in text and name in prompt.build_prompt(None)


def test_prompt_version_is_a_stable_hash_of_text_and_schema() -> None:
    version = prompt.PROMPT_VERSION
    assert len(version) == 12 and int(version, 16) >= 0
    # The same in a fresh interpreter (no per-process hash seed involved).
    code = "import prompt; print(prompt.PROMPT_VERSION)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parents[2], env={"PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == version

    class OtherSchema(BaseModel):
        dense_caption: str

    assert prompt.prompt_version(schema=OtherSchema) != version
    assert prompt.prompt_version(rows=1, cols=8) != version


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


async def test_grid_description_matches_the_image_sent(
    fake_openai: FakeOpenAI, captioner: Captioner, tmp_path: Path
) -> None:
    """Render a real grid of a video whose frames carry their index, caption it, and read the image the
    server got in the order the prompt describes: 2 rows of 4, left to right then top to bottom."""
    video = make_video(tmp_path / "counting.mp4", seconds=4.0, fps=12)
    rendered = render_grid(ClipSpan(clip_id="c", video_id="v", source_uri=str(video)), FramegridSettings())
    outcome = await captioner.caption(rendered.jpeg, rendered.width, rendered.height, "frames counting up")
    assert outcome.status == "success"

    sent = fake_openai.chat_requests[0]
    assert "8 frames" in sent.text and "2 rows and 4 columns" in sent.text
    assert "left to right along the top row, then left to right along the bottom row" in sent.text
    (image,) = sent.images
    assert (image.format, image.width, image.height) == ("JPEG", rendered.width, rendered.height)

    pixels = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB")).astype(int)
    white_cols = _runs(pixels.min(axis=(0, 2)) > 220)
    white_rows = _runs(pixels.min(axis=(1, 2)) > 220)
    assert len(white_cols) == prompt.GRID_COLS - 1 and len(white_rows) == prompt.GRID_ROWS - 1
    xs = [0, *[x for run in white_cols for x in run], image.width]
    ys = [0, *[y for run in white_rows for y in run], image.height]
    cells = [(xs[2 * c], xs[2 * c + 1], ys[2 * r], ys[2 * r + 1])
             for r in range(prompt.GRID_ROWS) for c in range(prompt.GRID_COLS)]
    indices = [read_index(crop_content(pixels[y0:y1, x0:x1].astype(np.uint8))) for x0, x1, y0, y1 in cells]
    expected = [round(t * 12) for t in rendered.frame_times_s]
    assert indices == expected and indices == sorted(indices) and len(set(indices)) == 8
