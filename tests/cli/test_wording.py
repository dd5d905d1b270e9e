"""Mistakes a new user makes get a plain answer: a manifest cell that is not a list, a host that does not
resolve, an output folder that does not exist yet, a recaption that selects nothing."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import mira


def test_csv_manifest_error_names_the_line_and_the_problem(mira_env: dict[str, str], clip: Path,
                                                           tmp_path: Path) -> None:
    manifest = tmp_path / "panda.csv"
    manifest.write_text("videoID,url,timestamp,caption\n"
                        f"v1,{clip},\"[[0:00:00.000, 0:00:01.000]]\",\"['a street']\"\n")
    done = mira(mira_env, "caption", "--manifest", str(manifest), "--wait", timeout=60)
    assert done.returncode == 1
    assert "panda.csv line 2: column 'timestamp' is not a list with quoted items" in done.stderr
    assert "ast." not in done.stderr and "Traceback" not in done.stderr


def test_unresolvable_host_is_named_as_a_dns_failure(mira_env: dict[str, str]) -> None:
    done = mira(mira_env, "caption", "http://no-such-host.invalid/clip.mp4", "--wait", timeout=60)
    assert done.returncode == 1
    assert "DNS lookup failed for host 'no-such-host.invalid'" in done.stderr, done.stderr
    assert "Input/output error" not in done.stderr


def test_grid_creates_its_output_folder_and_keeps_quiet_about_cpu_decoding(mira_env: dict[str, str], clip: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "missing" / "dir" / "g.jpg"
    done = mira(mira_env, "grid", str(clip), "-o", str(out), timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert "CUDA" not in done.stderr and "WARNING" not in done.stderr


def test_recaption_without_a_selector_names_the_all_flag(mira_env: dict[str, str]) -> None:
    done = mira(mira_env, "recaption", "--dry-run", timeout=60)
    assert done.returncode == 2
    assert "--all" in done.stderr and "all=true" not in done.stderr


def test_a_missing_file_or_manifest_is_named_before_any_pipeline_starts(mira_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    done = mira(mira_env, "caption", str(missing), "--wait", timeout=30)
    assert done.returncode == 1  # a clip that cannot be captioned, as design.md's exit statuses say
    assert f"{missing}: source not found" in done.stderr and "nothing to caption" in done.stderr
    assert "starting an embedded one" not in done.stderr and not Path(mira_env["MIRA_HOME"]).exists()
    done = mira(mira_env, "caption", "--manifest", str(tmp_path / "nope.csv"), "--wait", timeout=30)
    assert done.returncode == 1 and f"manifest not found: {tmp_path / 'nope.csv'}" in done.stderr
    assert not Path(mira_env["MIRA_HOME"]).exists()


def test_a_mistyped_command_gets_the_nearest_ones(mira_env: dict[str, str]) -> None:
    done = mira(mira_env, "captoin", "clip.mp4", timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == "mira: unknown command 'captoin'; did you mean `mira caption` or `mira recaption`?"
    done = mira(mira_env, "frobnicate", timeout=30)
    assert done.returncode == 2 and "the commands are caption, up, run" in done.stderr


def test_one_clip_is_one_clip(mira_env: dict[str, str], clip: Path) -> None:
    done = mira(mira_env, "caption", str(clip), "--wait", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "submitted 1 clip\n" in done.stderr and "this run: 1 model call;" in done.stdout
    assert "1 clips" not in done.stdout + done.stderr
    status = mira(mira_env, "status", timeout=30)
    assert "records: 1 version of 1 clip;" in status.stdout


def test_stats_says_how_to_get_its_histogram(mira_env: dict[str, str], tmp_path: Path) -> None:
    done = mira(mira_env, "stats", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "`mira stats -o lengths.png` draws it" in done.stdout
    png = tmp_path / "lengths.png"
    done = mira(mira_env, "stats", "-o", str(png), timeout=30)
    assert done.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG" and "draws it" not in done.stdout
