"""The NetworkPolicy lets every service reach what its configuration names (Kafka, PostgreSQL, S3, the model
endpoints, DNS) and no other port: derived from the settings each pod loads, so a new endpoint in the
ConfigMap without its egress rule fails here, and so does a rule nobody needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.settings import Settings
from tests.deploy import code_facts
from tests.deploy.manifests import Obj, Rendered, of_kind, service_of

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
    database = settings.database_url or ""
    # A Secret the cluster's operator creates shows as "<secret/key>": docs/deploy.md has it hold a
    # PostgreSQL URL, so PostgreSQL's port.
    ports.add(DEFAULT_PORTS["postgresql"] if database.startswith("<") else _port(database))
    if (settings.blob_url or "").startswith("s3://"):
        endpoint = environ.get("MIRA_S3_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL") or "https://s3"
        ports.add(_port(endpoint))
    for stage_settings in loaded.values():
        if hasattr(stage_settings, "openai_base_url"):  # the caption model
            ports.add(_port(stage_settings.openai_base_url or OPENAI_API))
        if getattr(stage_settings, "model_configured", False) and hasattr(stage_settings, "hint_base_url"):
            ports.add(_port(stage_settings.hint_base_url or OPENAI_API))
    return ports


def _policies_of(rendered: Rendered, deployment: Obj) -> list[Obj]:
    labels = deployment["spec"]["template"]["metadata"]["labels"].items()
    return [p for p in of_kind(rendered.objs, "NetworkPolicy").values()
            if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels
            and "Egress" in p["spec"]["policyTypes"]]


def test_every_pod_is_under_an_egress_policy(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        assert _policies_of(rendered, deployment), f"{name}: its egress is unrestricted"


def test_egress_allows_the_configured_endpoints_and_no_other_port(rendered: Rendered) -> None:
    needed_by_policy: dict[str, set[int]] = {}
    for name, deployment in rendered.deployments().items():
        policies = _policies_of(rendered, deployment)
        rules = [rule for policy in policies for rule in policy["spec"]["egress"]]
        assert all(rule.get("ports") for rule in rules), f"{name}: an egress rule opens every port"
        allowed = {port["port"] for rule in rules for port in rule["ports"]}
        needed = _needed_ports(rendered, deployment) | {DNS}
        assert needed <= allowed, f"{name}: configured endpoints on ports {needed - allowed} are blocked"
        for policy in policies:
            needed_by_policy.setdefault(policy["metadata"]["name"], set()).update(needed)
    for name, needed in needed_by_policy.items():
        policy = of_kind(rendered.objs, "NetworkPolicy")[name]
        allowed = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
        unused = allowed - needed
        assert not unused, f"NetworkPolicy {name}: ports {unused} are open but none of its pods uses them"


def test_the_cloud_metadata_address_is_out_of_reach(rendered: Rendered) -> None:
    for policy in of_kind(rendered.objs, "NetworkPolicy").values():
        for rule in policy["spec"]["egress"]:
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                if block and block["cidr"] == "0.0.0.0/0":
                    assert METADATA_CIDR in block.get("except", []), policy["metadata"]["name"]
