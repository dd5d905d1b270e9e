"""The settings the manifests set are settings the code reads: a misspelt or retired name in the ConfigMap
or a container's env (which the services would silently ignore) fails here."""

from __future__ import annotations

from tests.deploy import code_facts
from tests.deploy.manifests import Rendered, main_container, of_kind


def test_configmap_holds_only_names_the_code_reads(rendered: Rendered) -> None:
    known = code_facts.known_env_names()
    config_maps = of_kind(rendered.objs, "ConfigMap")
    [config] = [cm for name, cm in config_maps.items() if name.startswith("mira-config")]
    unknown = sorted(set(config["data"]) - known)
    assert not unknown, f"{rendered.overlay}: no settings class reads {unknown}"


def test_container_env_holds_only_names_the_code_reads(rendered: Rendered) -> None:
    known = code_facts.known_env_names()
    for name, deployment in rendered.deployments().items():
        unknown = sorted({e["name"] for e in main_container(deployment).get("env", [])} - known)
        assert not unknown, f"{name}: no settings class reads {unknown}"

