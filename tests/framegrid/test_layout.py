"""What the grid looks like: upright cells, letterboxed not stretched, equal cells with white separators,
and a pixel size the caption model bills exactly as recorded, never larger than the source supports."""

from __future__ import annotations

import numpy as np
import pytest

from services.caption.captioner import Captioner
from services.caption.request import estimate_usage
from services.caption.settings import CaptionSettings
from services.framegrid.grid import Layout
from shared.vision_models import image_tokens
from tests.fake_openai import FakeOpenAI
from tests.fake_openai.fixtures import _fake_server, fake_openai  # noqa: F401
from tests.framegrid.support import Videos, cells, grid_image, render, shown_indices
from tests.media.frames import content_box, red_side


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_phone_video_cells_are_upright(videos: Videos, rotation: int) -> None:
    path = videos.get(f"rot{rotation}.mp4", seconds=2, fps=12, width=96, height=160, rotation=rotation)
    grid = render(path, sample_mode="exact")
    crops = [cell[y0:y1, x0:x1] for cell in cells(grid) for x0, y0, x1, y1 in [content_box(cell)]]
    assert [red_side(c) for c in crops] == ["top"] * 8
    assert all(c.shape[0] > c.shape[1] for c in crops)  # portrait, as filmed
    assert (grid.video.width, grid.video.height) == (96, 160)
    assert shown_indices(grid) == sorted(shown_indices(grid))


@pytest.mark.parametrize(
    ("name", "width", "height"),
    [("portrait", 90, 160), ("four-three", 160, 120), ("ultrawide", 240, 100), ("wide", 160, 90)],
)
def test_each_shape_is_letterboxed_into_equal_cells_without_distortion(
    videos: Videos, name: str, width: int, height: int
) -> None:
    grid = render(videos.get(f"{name}.mp4", seconds=1, fps=12, width=width, height=height))
    layout = Layout.within(grid.width, grid.height)
    for cell in cells(grid):
        assert cell.shape[:2] == (layout.cell_h, layout.cell_w)
        x0, y0, x1, y1 = content_box(cell)
        assert (x1 - x0) / (y1 - y0) == pytest.approx(width / height, rel=0.03)
        assert red_side(cell[y0:y1, x0:x1]) == "top"
        # Cells fit each video's shape by default: no pixel (and no image token) is spent on bars.
        assert (x1 - x0) * (y1 - y0) > 0.95 * layout.cell_w * layout.cell_h


def test_a_fixed_cell_shape_letterboxes_a_portrait_video_instead_of_stretching_it(videos: Videos) -> None:
    grid = render(
        videos.get("portrait-hd.mp4", seconds=1, fps=12, width=360, height=640), grid_cell_aspect="16:9"
    )
    assert (grid.width, grid.height) == (2048, 576)
    for cell in cells(grid):
        x0, y0, x1, y1 = content_box(cell)
        assert (x1 - x0) / (y1 - y0) == pytest.approx(90 / 160, rel=0.03)
        assert y1 - y0 >= cell.shape[0] - 2  # full height ...
        assert x0 > cell.shape[1] // 4 and x1 < cell.shape[1] * 3 // 4  # ... black bars left and right
        assert cell[:, : x0 - 1].max() < 40 and cell[:, x1 + 1 :].max() < 40


def test_non_square_pixels_are_shown_at_their_display_aspect(videos: Videos) -> None:
    # 120x90 stored pixels with a 4:3 sample aspect ratio display as 160x90 (16:9).
    grid = render(videos.get("anamorphic.mp4", seconds=1, fps=12, width=120, height=90, sar=(4, 3)))
    for cell in cells(grid):
        x0, y0, x1, y1 = content_box(cell)
        assert (x1 - x0) / (y1 - y0) == pytest.approx(16 / 9, rel=0.03)
    assert shown_indices(grid) == sorted(shown_indices(grid))


def test_cells_are_separated_by_thin_white_lines(videos: Videos) -> None:
    grid = render(videos.get("wide.mp4", seconds=1, fps=12, width=160, height=90))
    image, layout = grid_image(grid), Layout.within(grid.width, grid.height)
    assert 2 <= layout.sep <= 6
    for col in range(1, 4):
        x = layout.origin(col)[0] - layout.sep // 2 - 1
        assert image[:, x].min() > 200  # the vertical separator is white top to bottom
    y = layout.origin(4)[1] - layout.sep // 2 - 1
    assert image[y].min() > 200
    assert np.median(image[layout.cell_h // 2, : layout.cell_w]) < 220  # the cells are not white


@pytest.mark.parametrize(
    ("model", "budget", "size", "tokens"),
    [("gpt-4o", 8, (2048, 576), 1445), ("gpt-4o", 4, (1820, 511), 765), ("gpt-4.1-mini", 4, None, None)],
)
def test_grid_size_follows_the_caption_models_token_rule(
    videos: Videos, model: str, budget: int, size: tuple[int, int] | None, tokens: int | None
) -> None:
    grid = render(
        videos.get("wide-hd.mp4", seconds=1, fps=12, width=640, height=360),  # enough pixels for any budget
        grid_model=model,
        grid_tile_budget=budget,
    )
    if size:  # the layout rounds the chosen size down to equal cells; never up
        assert size[0] - 4 <= grid.width <= size[0] and size[1] - 2 <= grid.height <= size[1]
    assert grid_image(grid).shape[:2] == (grid.height, grid.width)
    assert grid.image_tokens == image_tokens(model, grid.width, grid.height)
    if tokens:
        assert grid.image_tokens == tokens
    assert (
        max(grid.width, grid.height) <= 2048 and min(grid.width, grid.height) <= 768
    )  # sent as-is, not resized
    assert grid.model == model


def test_grid_model_defaults_to_the_caption_model(videos: Videos) -> None:
    grid = render(
        videos.get("wide.mp4", seconds=1, fps=12, width=160, height=90), caption_model="gpt-4o-mini"
    )
    assert grid.model == "gpt-4o-mini"
    assert grid.image_tokens == image_tokens("gpt-4o-mini", grid.width, grid.height)


@pytest.mark.parametrize(
    ("width", "height", "size", "tokens"),
    [(256, 144, (1024, 288), 425), (1920, 1080, (2048, 576), 1445)],
)
async def test_grid_is_never_larger_than_the_source_supports_and_costs_what_it_carries(
    videos: Videos, fake_openai: FakeOpenAI, width: int, height: int, size: tuple[int, int], tokens: int  # noqa: F811
) -> None:
    # A 256x144 clip fills a 1024x288 grid at its own resolution (2 tiles); scaling it up to the 8-tile
    # 2048x576 would cost 1445 tokens for the same information. A 1080p clip is scaled down to the budget.
    grid = render(videos.get(f"src-{width}x{height}.mp4", seconds=1, fps=8, width=width, height=height))
    assert size[0] - 4 <= grid.width <= size[0] and size[1] - 2 <= grid.height <= size[1]
    assert grid.image_tokens == tokens
    layout = Layout.within(grid.width, grid.height)
    assert layout.cell_w >= min(width, 500) - 3  # the small source keeps (almost) every pixel it has

    settings = CaptionSettings(openai_base_url=fake_openai.base_url, openai_api_key="sk-test")
    assert estimate_usage("gpt-4o", grid.width, grid.height, settings).image_tokens == tokens
    captioner = Captioner(settings)
    try:
        outcome = await captioner.caption(grid.jpeg, grid.width, grid.height, None)
    finally:
        await captioner.aclose()
    assert outcome.status == "success"
    assert outcome.usage.image_tokens == tokens  # as the server billed the image it received
