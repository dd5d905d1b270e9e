"""`python -m cli.firstrun FOLDER EXPORT`: what `make run` does once the sample clips are written.

It captions FOLDER end to end (`mira caption FOLDER --wait`) and exports the records to EXPORT, outside the
folder, so a later `mira caption FOLDER` finds only videos there. Without OPENAI_API_KEY or OPENAI_BASE_URL
the captions come from Mira's local offline model (cli/localmodel), started for this run and stopped after
it: placeholder text under the model name `mira-placeholder`, which says what it is in every record. With
a key or base URL the real model captions, and placeholder records left by a keyless run first get new
versions from it (`mira recaption --model-is mira-placeholder`). Either way the last lines say what was done and
where the records, the grids and the review page are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from cli.localmodel import LocalModel
from cli.words import plural
from services.caption.settings import CaptionSettings
from shared.settings import Settings
from shared.vision_models import PLACEHOLDER_MODEL

REAL_MODEL_LINE = "OPENAI_API_KEY=sk-... make run"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m cli.firstrun FOLDER EXPORT.jsonl", file=sys.stderr)
        return 2
    folder, export = argv
    placeholder = not CaptionSettings().model_configured
    env: dict[str, str] = {}
    with LocalModel() if placeholder else nullcontext() as model:
        if model is not None:
            env = {"OPENAI_BASE_URL": model.base_url, "MIRA_CAPTION_MODEL": PLACEHOLDER_MODEL}
            print(f"No OPENAI_API_KEY or OPENAI_BASE_URL is set: captioning with Mira's local offline model "
                  f"({PLACEHOLDER_MODEL}, on {model.base_url} for this run). Its captions are placeholder "
                  "text, not descriptions of the videos.", flush=True)
        code = 0
        # Recaptioned first: `mira caption` would otherwise ask the real model about clips it then finds
        # recorded already (the placeholder versions), and those answers would be paid for and not recorded.
        if not placeholder and placeholder_records():
            print(f"Replacing the {PLACEHOLDER_MODEL} captions of an earlier run with the real model's "
                  "(new record versions; the placeholder ones stay as older versions).", flush=True)
            code = mira(env, "recaption", "--model-is", PLACEHOLDER_MODEL, "--wait")
        code = max(code, mira(env, "caption", folder, "--wait"))
    exported = mira(env, "export", "--format", "jsonl", "-o", export)
    print_done(Path(export), code, exported)
    return code or exported


def mira(env: dict[str, str], *args: str) -> int:
    """One `mira` command as a user would type it, with this run's model settings added."""
    print(f"$ mira {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env={**os.environ, **env},
                          check=False).returncode


def placeholder_records() -> int:
    """Clips whose newest version holds placeholder captions."""
    from shared.store import RecordStore

    settings = Settings()
    assert settings.database_url is not None
    with RecordStore.open(settings.database_url) as store:
        return sum(1 for _ in store.select(model_is=PLACEHOLDER_MODEL))


def print_done(export: Path, caption_code: int, export_code: int) -> None:
    records = read_records(export) if export_code == 0 else []
    models = Counter(str(r.get("model")) for r in records)
    mira_cmd = shown(Path(sys.executable).parent / "mira")
    print("\n" + "=" * 100)
    if caption_code:
        print("Some clips were not captioned: the summary above names them and says why.")
    if not records:
        print(f"No records were exported{'' if export_code == 0 else ' (mira export failed, see above)'}.")
    else:
        by_model = ", ".join(f"{n} by {m}" for m, n in models.most_common())
        print(f"Done: {plural(len(records), 'clip')} captioned ({by_model}).")
        if PLACEHOLDER_MODEL in models:
            print(f"  {PLACEHOLDER_MODEL} is Mira's local offline model: its captions are placeholder text that "
                  "describes no video; the records say so in their `model` column.")
        print(f"  records:      {shown(export)} (JSON Lines; `{mira_cmd} export --format csv|parquet -o FILE` "
              "for other formats)")
        grids = [str(r["grid_uri"]).removeprefix("file://") for r in records if r.get("grid_uri")]
        if grids:
            print(f"  grids:        {shown(Path(grids[0]).parents[2])}/ (the JPEG each clip's model call was "
                  f"sent), e.g. {shown(Path(grids[0]))}")
    print(f"  review page:  {mira_cmd} review   (then open http://127.0.0.1:8765/)")
    if PLACEHOLDER_MODEL in models or not records:
        print(f"  real model:   {REAL_MODEL_LINE}   (or OPENAI_BASE_URL=... for any OpenAI-compatible "
              "server; MIRA_CAPTION_MODEL picks the model)")


def read_records(export: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in export.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def shown(path: Path) -> str:
    """A path as short as it can be said from here."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
