"""The service pods, as every overlay renders them: one per stage, probed on the port the code listens on,
bounded, locked down, given time to finish their slowest job, and loading their settings without error."""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath

from services import STAGES
from shared.settings import Settings
from tests.deploy import code_facts
from tests.deploy.manifests import K8S, Obj, Rendered, main_container, of_kind, pod_spec, quantity, service_of

COMMIT_MARGIN_S = 15  # after the shutdown grace: commit the finished offsets, close producer and consumer


def _settings(rendered: Rendered, deployment: Obj) -> dict[type, object]:
    return code_facts.settings_of(service_of(deployment), rendered.environ(deployment))


def test_one_deployment_per_service(rendered: Rendered) -> None:
    services = sorted(service_of(d) for d in rendered.deployments().values())
    assert services == sorted(STAGES)


def test_probes_ask_the_health_endpoints_on_the_port_the_service_listens_on(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        container = main_container(deployment)
        settings = _settings(rendered, deployment)[Settings]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
        for probe, path in expected.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert ports[get["port"]] == settings.health_port, f"{name} {probe}: not MIRA_HEALTH_PORT"


def test_every_container_has_cpu_and_memory_requests_within_limits(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        resources = main_container(deployment)["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            limit = quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{name}: {resource} request {request} above limit {limit}"


def test_pods_meet_the_restricted_pod_security_standard(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        pod = pod_spec(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert not any(pod.get(host) for host in ("hostNetwork", "hostPID", "hostIPC")), name
        context = main_container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"], name
        assert not context.get("privileged"), name
    for namespace in of_kind(rendered.objs, "Namespace").values():
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_settings_load_from_each_containers_environment(rendered: Rendered) -> None:
    """Values in the ConfigMap and env parse into the settings classes (a typo'd number fails here)."""
    for deployment in rendered.deployments().values():
        _settings(rendered, deployment)


def _mount_of(container: Obj, path: str) -> bool | None:
    """readOnly of the volume mount holding `path` (the deepest one), or None when no volume holds it."""
    mounts = {PurePosixPath(m["mountPath"]): m.get("readOnly", False) for m in container["volumeMounts"]}
    holders = [m for m in mounts if PurePosixPath(path).is_relative_to(m)]
    return mounts[max(holders, key=lambda m: len(m.parts))] if holders else None


def test_paths_in_the_settings_are_mounted_and_home_is_writable(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        container = main_container(deployment)
        for key, value in rendered.environ(deployment).items():
            if value.startswith("/"):
                assert _mount_of(container, value) is not None, f"{name}: {key}={value} is on no volume"
        home = str(_settings(rendered, deployment)[Settings].home)  # type: ignore[attr-defined]
        assert _mount_of(container, home) is False, f"{name}: MIRA_HOME {home} must be on a writable volume"


def test_grace_period_outlasts_the_slowest_in_flight_job(rendered: Rendered) -> None:
    """A stopping service waits MIRA_SHUTDOWN_GRACE_S for in-flight work, which must cover the longest
    single step a stage allows itself (its *_timeout_s settings); the pod outlasts that plus the commit."""
    for name, deployment in rendered.deployments().items():
        loaded = _settings(rendered, deployment)
        grace = loaded[Settings].shutdown_grace_s  # type: ignore[attr-defined]
        timeouts = {f"MIRA_{field.upper()}": getattr(settings, field)
                    for cls, settings in loaded.items() if cls is not Settings
                    for field in cls.model_fields if field.endswith("_timeout_s")}
        for setting, timeout in timeouts.items():
            assert grace >= timeout, f"{name}: MIRA_SHUTDOWN_GRACE_S {grace} < {setting} {timeout}"
        pod_grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert pod_grace >= grace + COMMIT_MARGIN_S, f"{name}: pod grace {pod_grace} vs shutdown {grace}"


def test_worker_pools_fit_the_cpu_limit(rendered: Rendered) -> None:
    """Pool sizes that default to os.cpu_count() would count the node's CPUs, not the container's."""
    for name, deployment in rendered.deployments().items():
        cpus = math.ceil(quantity(main_container(deployment)["resources"]["limits"]["cpu"]))
        for cls, settings in _settings(rendered, deployment).items():
            for field in cls.model_fields:
                if field.endswith("_workers"):
                    workers = getattr(settings, field)
                    assert workers <= cpus, f"{name}: MIRA_{field.upper()}={workers} on {cpus} CPUs"


def test_every_deployment_has_a_disruption_budget(rendered: Rendered) -> None:
    budgets = of_kind(rendered.objs, "PodDisruptionBudget").values()
    for name, deployment in rendered.deployments().items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(mine) == 1, f"{name}: {len(mine)} PodDisruptionBudgets select its pods"
        assert mine[0]["spec"].get("maxUnavailable", 0) >= 1, f"{name}: its budget would block every drain"


def test_images_are_tagged_and_production_pins_them_by_digest(rendered: Rendered) -> None:
    """A tag can be moved to other contents; production names the exact image by its digest."""
    version = code_facts.project_version()
    for name, deployment in rendered.deployments().items():
        image = main_container(deployment)["image"]
        if rendered.overlay == "dev":
            _, _, tag = image.rpartition(":")
            assert tag and "/" not in tag and tag != "latest", f"{name}: image {image} has no pinned tag"
        else:
            assert re.fullmatch(r"[\w./-]+@sha256:[0-9a-f]{64}", image), f"{name}: {image} is not pinned by digest"
    overlay = (K8S / "overlays" / rendered.overlay / "kustomization.yaml").read_text()
    if rendered.overlay == "prod":
        assert f"registry.example.com/mira:{version}" in overlay  # which release the digest is of


def _repository(image: str) -> str:
    """registry/name of "registry/name:tag" or "registry/name@sha256:..."."""
    name = image.partition("@")[0]
    return name.rpartition(":")[0] if ":" in name.rpartition("/")[2] else name


def test_only_framegrid_gets_a_gpu_and_only_in_the_gpu_overlay(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        limits = main_container(deployment)["resources"]["limits"]
        gpu_wanted = rendered.overlay == "gpu" and service_of(deployment) == "framegrid"
        assert ("nvidia.com/gpu" in limits) == gpu_wanted, name
        if gpu_wanted:
            pod = pod_spec(deployment)
            assert int(limits["nvidia.com/gpu"]) >= 1
            assert pod["nodeSelector"], f"{name}: GPU pods must be placed on GPU nodes"
            assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"]), f"{name}: GPU taint"
            loaded = _settings(rendered, deployment)
            devices = [s.decode_device for s in loaded.values() if hasattr(s, "decode_device")]
            assert devices == ["cuda"], f"{name}: MIRA_DECODE_DEVICE must be cuda on a GPU pod"
            assert _repository(main_container(deployment)["image"]).endswith("-gpu")


def test_metrics_of_every_pod_are_scraped(rendered: Rendered) -> None:
    monitors = of_kind(rendered.objs, "ServiceMonitor").values()
    if rendered.overlay == "dev":
        assert not monitors  # a development cluster has no Prometheus Operator
        return
    services = of_kind(rendered.objs, "Service").values()
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"].items()
        scraped = [s for s in services if wanted <= s["metadata"]["labels"].items()]
        assert scraped, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        endpoint_ports = {e["port"] for e in monitor["spec"]["endpoints"] if e["path"] == "/metrics"}
        for name, deployment in rendered.deployments().items():
            labels = deployment["spec"]["template"]["metadata"]["labels"].items()
            covering = [s for s in scraped if s["spec"]["selector"].items() <= labels
                        and any(p["name"] in endpoint_ports and p["targetPort"] == "http"
                                for p in s["spec"]["ports"])]
            assert covering, f"{name}: no scraped Service reaches its /metrics"
