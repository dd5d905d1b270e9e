"""Schema validation of rendered objects, offline: Kubernetes' own kinds and the operators' CRDs.

Built-in kinds are checked against the Kubernetes JSON schemas shipped in the kubernetes-validate wheel, in
their strict form (an unknown field is an error, as `kubectl apply --validate=strict` makes it). Custom
resources are checked against the CRD schemas vendored in crds/ (pinned versions, sources in each file),
made strict the same way, and their metadata against Kubernetes' ObjectMeta.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate.utils import schema_contents, validate
from referencing import Registry, Resource

# The oldest Kubernetes these manifests support (KEDA 2.16 and Strimzi 1.0 both run on it) and the newest
# whose schemas the wheel ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CRD_DIR = Path(__file__).parent / "crds"
CUSTOM_GROUPS = ("kafka.strimzi.io/", "keda.sh/", "monitoring.coreos.com/")


def validate_object(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (or KeyError for an unknown custom kind) if `obj` is not valid."""
    if obj["apiVersion"].startswith(CUSTOM_GROUPS):
        _crd_validator(obj["apiVersion"], obj["kind"]).validate(obj)
        _object_meta_validator().validate(obj["metadata"])
    else:
        for version in KUBERNETES_VERSIONS:
            validate(obj, version, strict=True)


def _strict(schema: Any) -> Any:
    """Reject unknown fields wherever the CRD lists the fields of an object and keeps no unknown ones."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        keeps_unknown = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and not keeps_unknown:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@functools.cache
def _crds() -> dict[tuple[str, str], Any]:
    crds = (yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml")))
    return {(crd["apiVersion"], crd["kind"]): crd["openAPIV3Schema"] for crd in crds}


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Validator:
    schema = _strict(_crds()[(api_version, kind)])
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _object_meta_validator() -> jsonschema.Validator:
    schema_dir = f"kubernetes-json-schema/v{KUBERNETES_VERSIONS[-1]}-local-strict"
    definitions = schema_contents(f"{schema_dir}/_definitions.json", KUBERNETES_VERSIONS[-1])
    registry: Registry = Resource.from_contents(definitions) @ Registry()
    meta = {"$ref": f"{definitions['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(meta, registry=registry)
