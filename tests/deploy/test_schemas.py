"""Every object of every overlay is valid for Kubernetes and for the pinned Strimzi, KEDA and Prometheus
Operator CRDs, checked strictly: a misspelt or misplaced field fails here instead of being dropped."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from tests.deploy.manifests import Rendered, one
from tests.deploy.schemas import validate_object


def test_every_object_validates_against_its_schema(rendered: Rendered) -> None:
    errors = []
    for obj in rendered.objs:
        try:
            validate_object(obj)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {exc.message}")
    assert not errors, f"{rendered.overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize(("kind", "name", "path", "typo"), [
    ("Deployment", "mira-caption", ("spec", "template", "spec", "containers", 0), "livenesProbe"),
    ("ScaledObject", "mira-caption", ("spec",), "maxReplicas"),
    ("KafkaTopic", "mira-clips", ("spec",), "partition"),
    ("ServiceMonitor", "mira", ("spec", "endpoints", 0), "intervall"),
    ("TriggerAuthentication", "mira-kafka", ("metadata",), "label"),
])
def test_a_misspelt_field_is_rejected(renders: dict[str, Rendered], kind: str, name: str,
                                      path: tuple[str | int, ...], typo: str) -> None:
    obj = copy.deepcopy(one(renders["prod"].objs, kind, name))
    node = obj
    for step in path:
        node = node[step]
    node[typo] = {}
    with pytest.raises(jsonschema.ValidationError, match=typo):
        validate_object(obj)
