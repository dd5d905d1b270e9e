"""Topics and autoscaling agree with the code: a KafkaTopic for every Topic the pipeline uses, and for every
stage a ScaledObject on the lag of exactly the topic and consumer group the stage consumes with."""

from __future__ import annotations

import re

from shared.kafka import MAX_MESSAGE_BYTES
from shared.settings import Settings
from shared.topics import Topic
from tests.deploy import code_facts
from tests.deploy.manifests import Obj, Rendered, main_container, of_kind, service_of

# MIRA_KAFKA_SASL_MECHANISM (Kafka's names, as aiokafka takes them) -> KEDA's kafka trigger `sasl` value.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
KEDA_LOGIN = "mira-kafka-keda"  # the Secret with KEDA's Kafka user (describe-only: test_secrets.py)
STRIMZI_BOOTSTRAP = re.compile(r"^(?P<cluster>[a-z0-9-]+)-kafka-bootstrap\.(?P<namespace>[a-z0-9-]+)\.svc")


def _settings(rendered: Rendered, deployment: Obj) -> Settings:
    loaded = code_facts.settings_of(service_of(deployment), rendered.environ(deployment))
    return loaded[Settings]  # type: ignore[return-value]


def _any_settings(rendered: Rendered) -> Settings:
    return _settings(rendered, next(iter(rendered.deployments().values())))


def _topics(rendered: Rendered) -> dict[str, Obj]:
    """KafkaTopics by the Kafka topic name they manage."""
    return {t["spec"].get("topicName", t["metadata"]["name"]): t
            for t in of_kind(rendered.objs, "KafkaTopic").values()}


def test_every_topic_the_code_uses_has_a_kafka_topic(rendered: Rendered) -> None:
    prefix = _any_settings(rendered).topic_prefix
    assert set(_topics(rendered)) == {topic.full(prefix) for topic in Topic}


def test_topics_take_the_largest_message_the_producers_send(rendered: Rendered) -> None:
    for name, topic in _topics(rendered).items():
        assert int(topic["spec"]["config"]["max.message.bytes"]) >= MAX_MESSAGE_BYTES, name


def test_producers_with_acks_all_can_always_write(rendered: Rendered) -> None:
    """acks=all fails when fewer in-sync replicas exist than min.insync.replicas asks for."""
    for name, topic in _topics(rendered).items():
        replicas = topic["spec"]["replicas"]
        min_insync = int(topic["spec"]["config"]["min.insync.replicas"])
        assert min_insync <= replicas, name
        if rendered.overlay != "dev":
            assert min_insync < replicas, f"{name}: writes would stop when one broker does"


def test_topics_belong_to_the_kafka_cluster_the_services_use(rendered: Rendered) -> None:
    bootstrap = _any_settings(rendered).kafka_bootstrap or ""
    strimzi = STRIMZI_BOOTSTRAP.match(bootstrap)
    assert strimzi, f"overlays here use Strimzi's bootstrap Service, not {bootstrap}"
    for name, topic in _topics(rendered).items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["cluster"], name
        assert topic["metadata"]["namespace"] == strimzi["namespace"], name


def test_every_consumer_scales_on_the_lag_of_its_own_topic_and_group(rendered: Rendered) -> None:
    deployments = {service_of(d): d for d in rendered.deployments().values()}
    scaled_objects = of_kind(rendered.objs, "ScaledObject").values()
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in scaled_objects}
    topics = _topics(rendered)
    for stage in code_facts.stages():
        deployment = deployments[stage.name]
        settings = _settings(rendered, deployment)
        scaled_object = scaled.get(deployment["metadata"]["name"])
        assert scaled_object, f"{stage.name}: no ScaledObject targets {deployment['metadata']['name']}"
        [trigger] = scaled_object["spec"]["triggers"]
        meta = trigger["metadata"]
        topic = stage.consumes.full(settings.topic_prefix)
        assert trigger["type"] == "kafka"
        assert meta["topic"] == topic, stage.name
        assert meta["consumerGroup"] == stage.group_id, stage.name
        assert meta["bootstrapServers"] == settings.kafka_bootstrap, stage.name
        assert meta.get("allowIdleConsumers", "false") == "false", f"{stage.name}: idle consumers"
        partitions = topics[topic]["spec"]["partitions"]
        assert 1 <= scaled_object["spec"]["minReplicaCount"] <= scaled_object["spec"]["maxReplicaCount"]
        assert scaled_object["spec"]["maxReplicaCount"] <= partitions, f"{stage.name}: pods beyond partitions"


def test_the_autoscaler_reaches_kafka_the_way_the_services_do(rendered: Rendered) -> None:
    auths = of_kind(rendered.objs, "TriggerAuthentication")
    deployments = {d["metadata"]["name"]: d for d in rendered.deployments().values()}
    for name, scaled_object in of_kind(rendered.objs, "ScaledObject").items():
        deployment = deployments[scaled_object["spec"]["scaleTargetRef"]["name"]]
        settings = _settings(rendered, deployment)
        meta = scaled_object["spec"]["triggers"][0]["metadata"]
        protocol = settings.kafka_security_protocol
        assert meta.get("tls", "disable") == ("enable" if "SSL" in protocol else "disable"), name
        if "SASL" not in protocol:
            assert "sasl" not in meta, name
            continue
        assert meta["sasl"] == KEDA_SASL[settings.kafka_sasl_mechanism or ""], name
        auth = auths[scaled_object["spec"]["triggers"][0]["authenticationRef"]["name"]]
        params = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
        # KEDA signs in as a user of its own (kafka-users.yaml), with the keys the services' logins have.
        env = rendered.env(deployment)
        credentials = {"username": "MIRA_KAFKA_SASL_USERNAME", "password": "MIRA_KAFKA_SASL_PASSWORD"}
        for parameter, setting in credentials.items():
            assert params[parameter] == (KEDA_LOGIN, env.secrets[setting].key), f"{name}: {parameter}"
            assert env.secrets[setting].name != KEDA_LOGIN, f"{name} signs in as KEDA"
        if settings.kafka_ssl_cafile:
            assert params["ca"] == _mounted_secret_file(deployment, settings.kafka_ssl_cafile), name


def _mounted_secret_file(deployment: Obj, path: str) -> tuple[str, str]:
    """(Secret, key) of the file a container sees at `path`."""
    mounts = main_container(deployment)["volumeMounts"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in mounts:
        prefix = mount["mountPath"].rstrip("/") + "/"
        secret = volumes[mount["name"]].get("secret")
        if path.startswith(prefix) and secret:
            file = path.removeprefix(prefix)
            keys = {item["path"]: item["key"] for item in secret.get("items", [])}
            return secret["secretName"], keys.get(file, file)
    raise AssertionError(f"{path} is in no mounted Secret")
