"""The NetworkPolicy lets every service reach what its configuration names (Kafka, PostgreSQL, S3, the model
endpoints, DNS) and no other port: derived from the settings each pod loads, so a new endpoint in the
ConfigMap without its egress rule fails here, and so does a rule nobody needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.settings import Settings
from tests.deploy import code_facts
from tests.deploy.manifests import Obj, Rendered, main_container, of_kind, service_of

DNS = 53
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432}
OPENAI_API = "https://api.openai.com/v1"  # the openai SDK's endpoint when OPENAI_BASE_URL is unset
METADATA_CIDR = "169.254.0.0/16"  # cloud instance metadata: credentials live there


def _port(url: str) -> int:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]  # postgresql+psycopg://
    return parts.port or DEFAULT_PORTS[scheme]


def _needed_ports(rendered: Rendered, deployment: Obj) -> set[int]:
    environ = rendered.environ(deployment)
    loaded = code_facts.settings_of(service_of(deployment), environ)
    settings: Settings = loaded[Settings]  # type: ignore[assignment]
    ports = {int(server.rsplit(":", 1)[1]) for server in (settings.kafka_bootstrap or "").split(",")}
    service = service_of(deployment)
    if code_facts.uses(service, "database_url"):
        ports.add(_port(settings.database_url or ""))
    if service == "framegrid":
        ports.add(DEFAULT_PORTS["https"])  # clip sources on the web
    if code_facts.uses(service, "blob_url") and (settings.blob_url or "").startswith("s3://"):
        endpoint = environ.get("MIRA_S3_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL") or "https://s3"
        ports.add(_port(endpoint))
    for stage_settings in loaded.values():
        if hasattr(stage_settings, "openai_base_url"):  # the caption model
            ports.add(_port(stage_settings.openai_base_url or OPENAI_API))
        if getattr(stage_settings, "model_configured", False) and hasattr(stage_settings, "hint_base_url"):
            ports.add(_port(stage_settings.hint_base_url or OPENAI_API))
    return ports


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects these labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        held = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not held:
            return False
    return True


def _policies_of(rendered: Rendered, deployment: Obj, kind: str = "Egress") -> list[Obj]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return [p for p in of_kind(rendered.objs, "NetworkPolicy").values()
            if selects(p["spec"]["podSelector"], labels) and kind in p["spec"]["policyTypes"]]


def test_every_pod_is_under_an_egress_policy(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        assert _policies_of(rendered, deployment), f"{name}: its egress is unrestricted"


def test_egress_allows_the_configured_endpoints_and_no_other_port(rendered: Rendered) -> None:
    needed_by_policy: dict[str, set[int]] = {}
    for name, deployment in rendered.deployments().items():
        policies = _policies_of(rendered, deployment)
        rules = [rule for policy in policies for rule in policy["spec"].get("egress", [])]
        assert all(rule.get("ports") for rule in rules), f"{name}: an egress rule opens every port"
        allowed = {port["port"] for rule in rules for port in rule["ports"]}
        needed = _needed_ports(rendered, deployment) | {DNS}
        assert needed <= allowed, f"{name}: configured endpoints on ports {needed - allowed} are blocked"
        for policy in policies:
            needed_by_policy.setdefault(policy["metadata"]["name"], set()).update(needed)
    for name, needed in needed_by_policy.items():
        policy = of_kind(rendered.objs, "NetworkPolicy")[name]
        allowed = {port["port"] for rule in policy["spec"].get("egress", []) for port in rule["ports"]}
        unused = allowed - needed
        assert not unused, f"NetworkPolicy {name}: ports {unused} are open but none of its pods uses them"


def test_the_cloud_metadata_address_is_out_of_reach(rendered: Rendered) -> None:
    for policy in of_kind(rendered.objs, "NetworkPolicy").values():
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                if block and block["cidr"] == "0.0.0.0/0":
                    assert METADATA_CIDR in block.get("except", []), policy["metadata"]["name"]


def _public_ports(rendered: Rendered, deployment: Obj) -> set[int]:
    """Ports a service's pods may reach on any public address (an ipBlock of 0.0.0.0/0)."""
    return {port["port"] for policy in _policies_of(rendered, deployment)
            for rule in policy["spec"].get("egress", [])
            if any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in rule.get("to", []))
            for port in rule["ports"]}


def test_only_framegrid_hint_and_caption_reach_the_internet(rendered: Rendered) -> None:
    """Sources and model endpoints are theirs; recaption may reach the object store's HTTPS port alone when
    grids live on S3 (not in dev, where MinIO is in the namespace); ingest and sink reach nothing outside."""
    for name, deployment in rendered.deployments().items():
        service, public, environ = service_of(deployment), _public_ports(rendered, deployment), rendered.environ(deployment)
        on_s3 = environ.get("MIRA_BLOB_URL", "").startswith("s3://") and "MIRA_S3_ENDPOINT_URL" not in environ
        if service in ("split", "framegrid", "hint", "caption") or (service == "recaption" and on_s3):
            assert public == {DEFAULT_PORTS["https"]}, f"{name}: public egress on {public}"
        else:
            assert not public, f"{name}: reaches the internet on {public}"


def _ingress_rules(rendered: Rendered, deployment: Obj) -> list[Obj]:
    return [rule for policy in _policies_of(rendered, deployment, "Ingress")
            for rule in policy["spec"].get("ingress", [])]


def test_the_ingest_api_is_reachable_only_from_namespaces_named_by_the_operator(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        container = main_container(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for rule in _ingress_rules(rendered, deployment):
            assert rule.get("from") and rule.get("ports"), f"{name}: an ingress rule admits everyone"
            for peer in rule["from"]:
                assert peer.get("namespaceSelector"), f"{name}: ingress from an unbounded peer {peer}"
            opened = {ports.get(p["port"], p["port"]) for p in rule["ports"]}
            if "api" not in {p["port"] for p in rule["ports"]}:
                assert opened == {Settings().health_port}, f"{name}: ingress on {opened}"
                continue
            assert service_of(deployment) == "ingest", f"{name}: only ingest serves the API"
            assert ports["api"] == int(rendered.environ(deployment)["MIRA_API_PORT"])
            for peer in rule["from"]:
                [expression] = peer["namespaceSelector"]["matchExpressions"]
                assert expression["key"] == "kubernetes.io/metadata.name" and expression["operator"] == "In"
                assert expression["values"] and "" not in expression["values"], name
                assert "podSelector" not in peer or peer["podSelector"], name
    ingest = next(d for d in rendered.deployments().values() if service_of(d) == "ingest")
    api_rules = [r for r in _ingress_rules(rendered, ingest) if any(p["port"] == "api" for p in r["ports"])]
    assert api_rules, "the ingest API admits no client at all"
