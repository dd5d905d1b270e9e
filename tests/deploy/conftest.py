"""Each overlay is rendered once per test session; tests that take `rendered` run once per overlay."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import K8S, OVERLAYS, Rendered, render


@pytest.fixture(scope="session")
def renders() -> dict[str, Rendered]:
    return {name: Rendered(name, render(K8S / "overlays" / name)) for name in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, renders: dict[str, Rendered]) -> Rendered:
    return renders[request.param]
