"""docs/deploy.md tells the truth: the settings it names exist, its paths exist, its `mira` commands parse
with the real CLI, every Secret key the manifests need is explained, and its partition table is the
manifests' own."""

from __future__ import annotations

import argparse
import importlib
import re
import shlex

import pytest

from cli.main import COMMANDS
from tests.deploy import code_facts
from tests.deploy.manifests import Obj, Rendered, main_container, of_kind, pod_spec

DOC = code_facts.ROOT / "docs" / "deploy.md"
TEXT = DOC.read_text()


@pytest.mark.parametrize("doc", ["deploy.md", "security.md"])
def test_every_setting_named_in_the_docs_is_read_by_the_code(doc: str) -> None:
    named = set(re.findall(r"\b(?:MIRA|OPENAI)_[A-Z0-9_]+\b", (DOC.parent / doc).read_text()))
    assert named - code_facts.known_env_names() == set()


def test_every_repository_path_in_the_docs_exists() -> None:
    paths = set(re.findall(r"\b(?:deploy|docs|services|shared|tests)/[\w./-]*\w", TEXT))
    assert [p for p in sorted(paths) if not (code_facts.ROOT / p).exists()] == []


def _mira_commands() -> list[list[str]]:
    blocks = re.findall(r"```\n(.*?)```", TEXT, flags=re.DOTALL)
    lines = " ".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line.split(" -- mira ", 1)[1]) for line in lines if " -- mira " in line]


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mira")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"cli.{name}").add_parser(sub)
    return parser


@pytest.mark.parametrize("argv", _mira_commands(), ids=" ".join)
def test_every_mira_command_in_the_docs_parses(argv: list[str]) -> None:
    try:
        _cli().parse_args(argv)
    except SystemExit as exc:  # argparse reports a bad subcommand option by exiting
        pytest.fail(f"`mira {' '.join(argv)}` is not a valid command (exit {exc.code})")


def _secret_keys(objs: list[Obj]) -> set[tuple[str, str]]:
    keys = set()
    for deployment in of_kind(objs, "Deployment").values():
        for entry in main_container(deployment).get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add((ref["name"], ref["key"]))
        for volume in pod_spec(deployment).get("volumes", []):
            secret = volume.get("secret")
            if secret:
                keys |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    for auth in of_kind(objs, "TriggerAuthentication").values():
        keys |= {(ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    return keys


def test_every_secret_the_manifests_need_is_explained(renders: dict[str, Rendered]) -> None:
    needed = _secret_keys(renders["prod"].objs) | _secret_keys(renders["gpu"].objs)
    missing = [f"{secret}/{key}" for secret, key in sorted(needed)
               if f"`{secret}`" not in TEXT or f"`{key}`" not in TEXT]
    assert not missing, f"docs/deploy.md does not explain {missing}"


def test_partition_table_matches_the_manifests(renders: dict[str, Rendered]) -> None:
    objs = renders["prod"].objs
    topics = of_kind(objs, "KafkaTopic").values()
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics}
    triggers = [so["spec"]["triggers"][0]["metadata"] for so in of_kind(objs, "ScaledObject").values()]
    lag = {trigger["topic"]: int(trigger["lagThreshold"]) for trigger in triggers}
    rows = re.findall(r"^\| `(mira\.[\w-]+)` \| \w+ \| (\d+) \| (\d+) \|", TEXT, flags=re.MULTILINE)
    assert len(rows) == len(lag)
    for topic, documented_partitions, documented_lag in rows:
        assert (partitions[topic], lag[topic]) == (int(documented_partitions), int(documented_lag)), topic
