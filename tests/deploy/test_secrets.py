"""Each service gets only the secrets it uses, and in production signs in to Kafka as a user of its own that
may read only the topic and group it consumes. Who uses what is read from the code: the services whose own
modules read the database or blob store settings, and the secret fields of each stage's settings classes."""

from __future__ import annotations

from pydantic import AliasChoices, SecretStr

from shared.settings import Settings
from shared.topics import Topic
from tests.deploy import code_facts
from tests.deploy.manifests import Obj, Rendered, of_kind, service_of

OBJECT_STORE_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
KAFKA_LOGIN = {"MIRA_KAFKA_SASL_USERNAME", "MIRA_KAFKA_SASL_PASSWORD"}


def _own_secret_settings(service: str) -> set[str]:
    """Environment names of the SecretStr settings of the service's own settings classes."""
    names: set[str] = set()
    for cls in code_facts.stage_settings(service):
        for field_name, field in cls.model_fields.items():
            if cls is not Settings and SecretStr in getattr(field.annotation, "__args__", ()):
                alias = field.validation_alias
                names.add(str(alias.choices[0]).upper() if isinstance(alias, AliasChoices)
                          else f"{cls.model_config.get('env_prefix', '')}{field_name}".upper())
    return names


def _expected(service: str, sasl: bool) -> set[str]:
    expected = _own_secret_settings(service)
    if code_facts.uses(service, "database_url"):
        expected.add("MIRA_DATABASE_URL")
    if code_facts.uses(service, "blob_url"):
        expected |= OBJECT_STORE_KEYS
    return expected | (KAFKA_LOGIN if sasl else set())


def test_each_deployment_gets_only_the_secrets_its_service_uses(rendered: Rendered) -> None:
    for name, deployment in rendered.deployments().items():
        service, env = service_of(deployment), rendered.env(deployment)
        sasl = "SASL" in env.values.get("MIRA_KAFKA_SECURITY_PROTOCOL", "")
        assert set(env.secrets) == _expected(service, sasl), name
    framegrid = next(d for d in rendered.deployments().values() if service_of(d) == "framegrid")
    assert set(rendered.env(framegrid).secrets) <= OBJECT_STORE_KEYS | KAFKA_LOGIN  # it parses hostile media


def test_the_ingest_api_tokens_come_from_their_own_secret(rendered: Rendered) -> None:
    ingest = next(d for d in rendered.deployments().values() if service_of(d) == "ingest")
    ref = rendered.env(ingest).secrets["MIRA_API_TOKENS"]
    assert ref.name.startswith("mira-api-tokens") and not ref.optional  # no tokens, no pod (it binds beyond loopback)


def _acls(user: Obj, operation: str, kind: str) -> set[str]:
    return {acl["resource"]["name"] for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == kind and operation in acl["operations"]}


def test_every_service_signs_in_as_its_own_kafka_user_with_least_privilege(rendered: Rendered) -> None:
    users = of_kind(rendered.objs, "KafkaUser")
    deployments = {service_of(d): d for d in rendered.deployments().values()}
    if rendered.overlay == "dev":
        assert not users  # the development Kafka listener has no authentication
        return
    prefix = rendered.environ(deployments["ingest"])["MIRA_TOPIC_PREFIX"]
    topics = {topic.full(prefix) for topic in Topic}
    secret_names = set()
    for stage in code_facts.stages():
        user = users[f"mira-{stage.name}"]
        login = rendered.env(deployments[stage.name]).secrets
        assert {login[n].name for n in KAFKA_LOGIN} == {f"mira-kafka-{stage.name}"}, stage.name
        secret_names.add(login["MIRA_KAFKA_SASL_PASSWORD"].name)
        acls = user["spec"]["authorization"]["acls"]
        assert all(a["resource"]["patternType"] == "literal" and "All" not in a["operations"] for a in acls)
        assert _acls(user, "Read", "topic") == {stage.consumes.full(prefix)}, stage.name
        assert _acls(user, "Read", "group") == {stage.group_id}, stage.name
        writes = _acls(user, "Write", "topic")
        assert Topic.DEAD_LETTERS.full(prefix) in writes and writes <= topics, stage.name
        assert not _acls(user, "Write", "group") and not _acls(user, "Create", "topic"), stage.name
    assert len(secret_names) == len(code_facts.stages())  # no two services share a login
    keda = users["mira-keda"]
    assert {op for a in keda["spec"]["authorization"]["acls"] for op in a["operations"]} == {"Describe"}
