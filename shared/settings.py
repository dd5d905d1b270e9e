"""Settings common to every service, read from the environment (MIRA_ prefix) and validated at start-up.

Stage-specific settings live beside their stage (services/<stage>/settings.py) and use the same prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import redact


class MiraSettings(BaseSettings):
    """Base class: every Mira setting is read from MIRA_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="MIRA_", extra="ignore", frozen=True)

    @model_validator(mode="after")
    def _register_secrets(self) -> MiraSettings:
        """Secret settings are masked in every log line and dead letter, however they were configured."""
        redact.register(*(v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)))
        return self


class CaptionModelSetting(MiraSettings):
    """MIRA_CAPTION_MODEL, declared once: caption calls it, framegrid sizes grids for its image-token rule."""

    caption_model: str = Field("gpt-4o", description="Vision model for the five captions.")


class SplitModeSetting(MiraSettings):
    """MIRA_SPLIT, declared once: ingest routes whole videos by it, split reads it beside its clip lengths."""

    split: Literal["auto", "always", "off"] = Field(
        "auto", description="Cut whole videos into clips at shot boundaries: auto (those longer than "
        "MIRA_CLIP_MAX_S), always, or off. Clips with a time range are never cut.")


class Settings(MiraSettings):
    home: Path = Field(Path(".mira"), description="Local state: database, blobs, embedded broker address.")
    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers; unset starts the embedded broker.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_compression: Literal["gzip", "lz4", "zstd", "snappy"] | None = Field(None, description="gzip, lz4, zstd or snappy; unset sends uncompressed.")
    kafka_session_timeout_ms: int = Field(10000, description="Group membership lapses after this silence.")
    kafka_heartbeat_interval_ms: int = 3000
    kafka_rebalance_timeout_ms: int = Field(30000, description="Time members get to rejoin in a rebalance.")
    kafka_max_poll_interval_ms: int = Field(300000, gt=0, description="A member that polls less often leaves "
                                            "its group; services keep polling while their work runs.")
    kafka_fetch_max_wait_ms: int = Field(500, ge=1, le=30000, description="How long a fetch may wait for "
                                         "new messages; brokers that do not answer early when some arrive "
                                         "(the embedded one) add up to this to every hop.")
    kafka_request_timeout_ms: int = Field(30000, gt=0, description="A publish or commit the broker has not "
                                          "answered by then fails (and is retried).")
    kafka_idempotence: bool = Field(True, description="Idempotent producer (acks=all, no duplicates from a "
                                    "producer's own retries); the embedded broker cannot, local pipelines turn "
                                    "it off there.")
    topic_prefix: str = "mira."
    create_topics: bool = Field(True, description="Create missing topics at start-up; off where Strimzi owns them.")
    topic_partitions: int = Field(4, ge=1, description="Partitions of the topics MIRA_CREATE_TOPICS creates.")
    topic_replication_factor: int = Field(1, ge=1, description="Replicas of each topic MIRA_CREATE_TOPICS creates "
                                          "(3 on a production cluster).")
    topic_min_insync_replicas: int = Field(1, ge=1, description="min.insync.replicas of the topics it creates: "
                                           "with acks=all a publish fails while fewer replicas are in sync (2).")
    database_url: str | None = Field(None, description="sqlite:///... or postgresql://...; default under home.")
    blob_url: str | None = Field(None, description="file://... or s3://bucket/prefix; default under home.")
    max_in_flight: int = Field(8, ge=1, description="Messages one service instance works on at once.")
    max_attempts: int = Field(5, ge=1, description="Tries for a retryable failure before it is dead-lettered.")
    retry_base_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    commit_interval_s: float = Field(1.0, gt=0)
    shutdown_grace_s: float = Field(25.0, ge=0, description="SIGTERM: time to finish in-flight work.")
    health_host: str = "0.0.0.0"
    health_port: int = Field(8080, ge=0, le=65535, description="/healthz, /readyz, /metrics; 0 picks a free port.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    max_hint_chars: int = Field(
        300, ge=1, description="Longest hint accepted: the API refuses longer ones, other paths cut them.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        """The scheme only (the store parses the rest), so a typo fails at start-up, not in a child process."""
        scheme, sep, _ = (value or "sqlite://").partition("://")
        if not sep or scheme.split("+")[0] not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")
        return value

    @field_validator("blob_url")
    @classmethod
    def _blob_scheme(cls, value: str | None) -> str | None:
        if value and "://" in value and value.split("://")[0] not in ("file", "s3"):
            raise ValueError("expected file:///DIR, a directory path, or s3://BUCKET/PREFIX")
        return value

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> Settings:
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(f"MIRA_TOPIC_MIN_INSYNC_REPLICAS ({self.topic_min_insync_replicas}) exceeds "
                             f"MIRA_TOPIC_REPLICATION_FACTOR ({self.topic_replication_factor}): no publish could succeed")
        return self

    @model_validator(mode="after")
    def _defaults_under_home(self) -> Settings:
        home = self.home.resolve()
        if self.database_url is None:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'mira.db'}")
        if self.blob_url is None:
            object.__setattr__(self, "blob_url", f"file://{home / 'blobs'}")
        return self


def load() -> Settings:
    return Settings()


def as_env(values: Mapping[str, Any]) -> dict[str, str]:
    """Settings by field name, as the MIRA_* environment variables that set them (for a child process)."""
    return {f"MIRA_{field.upper()}": str(value) for field, value in values.items()}
