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
