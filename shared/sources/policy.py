"""MIRA_ALLOWED_SOURCES: the local folders, S3 prefixes and URL patterns a deployment reads clips from.

Entries, comma-separated:
- `/data/videos` or `file:///data/videos`: files under that folder, judged after symlinks are resolved;
- `s3://bucket` or `s3://bucket/prefix`: objects of that bucket (under that prefix);
- `http(s)://host[:port][/path]`: URLs of that host; `*.example.com` matches its subdomains, `*` any host,
  `:*` any port, no port the scheme's default; a path limits the URL to that folder.

Unset, local files and S3 are not restricted (a workstation: `mira caption PATH` reads what its user points
at). Set, only what it lists is read, except that http(s) stays open to public hosts while no URL pattern
is listed. Always, a URL reaches a loopback, private, link-local or metadata address only when an entry
names its host exactly (an address or a name, not a wildcard): see shared/sources/addresses.py.

A refusal names the setting and nothing else about the source: a caller cannot learn whether a file exists
outside the policy.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from shared.runtime.errors import BadInput
from shared.settings import MiraSettings
from shared.sources.addresses import IPAddress, is_public, literal, names_loopback

REFUSED = "source not allowed by MIRA_ALLOWED_SOURCES"
DEFAULT_PORTS = {"http": 80, "https": 443}


class SourceRefused(BadInput):
    """Outside the source policy: dead-lettered (4xx from the API) with a reason that names only the rule."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{REFUSED} ({detail})" if detail else REFUSED)


@dataclass(frozen=True)
class UrlPattern:
    scheme: str
    host: str  # lower case; "*" any host, "*.example.com" its subdomains
    port: int | None  # None: any port
    path: str  # "" any path, else a folder prefix ending in "/"

    @classmethod
    def parse(cls, entry: str) -> UrlPattern:
        parts = urlsplit(entry)
        if "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{entry!r}: a URL pattern is scheme://host[:port][/path]")
        host, _, port = parts.netloc.rpartition(":") if not parts.netloc.endswith("]") else (parts.netloc, "", "")
        if not host:
            host, port = parts.netloc, ""
        if not host or (port and port != "*" and not port.isdigit()):
            raise ValueError(f"{entry!r}: a URL pattern is scheme://host[:port][/path]")
        if "*" in host and host != "*" and not (host.startswith("*.") and "*" not in host[2:]):
            raise ValueError(f"{entry!r}: a wildcard stands for a whole host (*) or its subdomains (*.name)")
        scheme = parts.scheme.lower()
        number = None if port == "*" else int(port) if port else DEFAULT_PORTS[scheme]
        path = parts.path.rstrip("/") + "/" if parts.path.strip("/") else ""
        address = literal(host)
        return cls(scheme, str(address) if address else host.lower().rstrip("."), number, path)

    @property
    def names_host(self) -> bool:
        """Whether this pattern names one host exactly: then that host may sit at any address."""
        return "*" not in self.host

    def matches(self, scheme: str, host: str, port: int, path: str) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.path and not (path + "/").startswith(self.path):
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


@dataclass(frozen=True)
class Url:
    """A source URL as the policy judges it."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except (ValueError, KeyError):
            raise SourceRefused("not an http(s) URL with a valid port") from None
        host = parts.hostname or ""
        address = literal(host)
        path = unquote(parts.path) or "/"
        if ".." in path.split("/"):
            raise SourceRefused("dot segments in the path")  # /allowed/../elsewhere
        return cls(scheme, str(address) if address else host.rstrip("."), port, posixpath.normpath(path))


@dataclass(frozen=True)
class SourcePolicy:
    configured: bool = False
    roots: tuple[Path, ...] = ()
    buckets: tuple[tuple[str, str], ...] = ()  # (bucket, key prefix: "" or ending in "/")
    urls: tuple[UrlPattern, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> SourcePolicy:
        """The policy MIRA_ALLOWED_SOURCES describes; ValueError names a bad entry."""
        if value is None or not value.strip():
            return cls()
        roots: list[Path] = []
        buckets: list[tuple[str, str]] = []
        urls: list[UrlPattern] = []
        for entry in (e.strip() for e in value.split(",")):
            if not entry:
                continue
            scheme = urlsplit(entry).scheme.lower()
            if scheme in DEFAULT_PORTS:
                urls.append(UrlPattern.parse(entry))
            elif scheme == "s3":
                parts = urlsplit(entry)
                if not parts.netloc:
                    raise ValueError(f"{entry!r}: an S3 entry is s3://bucket or s3://bucket/prefix")
                prefix = parts.path.strip("/")
                buckets.append((parts.netloc, prefix + "/" if prefix else ""))
            elif scheme in ("", "file"):
                path = Path(unquote(urlsplit(entry).path) if scheme else entry).expanduser()
                if not path.is_absolute():
                    raise ValueError(f"{entry!r}: a local root must be an absolute path")
                roots.append(path.resolve())
            else:
                raise ValueError(f"{entry!r}: entries are absolute paths, s3://bucket[/prefix] or http(s)://host")
        return cls(True, tuple(roots), tuple(buckets), tuple(urls))

    def check(self, source: str) -> None:
        """Raise SourceRefused unless `source` (path, file://, s3:// or http(s):// URI) is inside the policy.
        Reads no file and looks up no name: framegrid checks the addresses a URL resolves to when it connects."""
        scheme = urlsplit(source).scheme.lower()
        if scheme in DEFAULT_PORTS:
            host = Url.parse(source).host
            self.check_address(self.url_rule(source), literal(host), host)
        elif scheme == "s3":
            self.check_s3(source)
        elif scheme in ("", "file"):
            self.local_path(source)
        else:
            raise SourceRefused(f"scheme {scheme!r}")

    def local_path(self, source: str) -> Path:
        """The file a path or file:// URI names, symlinks resolved, if it lies under an allowed root."""
        scheme = urlsplit(source).scheme.lower()
        path = Path(unquote(urlsplit(source).path) if scheme == "file" else source).expanduser()
        resolved = Path(os.path.realpath(path))
        if not self.local_allowed(resolved):
            raise SourceRefused()
        return resolved

    def local_allowed(self, resolved: Path) -> bool:
        return not self.configured or any(resolved.is_relative_to(root) for root in self.roots)

    def check_s3(self, uri: str) -> None:
        parts = urlsplit(uri)
        key = unquote(parts.path.lstrip("/"))
        if not self.configured:
            return
        if any(segment in (".", "..") for segment in key.split("/")):
            raise SourceRefused()
        if not any(parts.netloc == bucket and key.startswith(prefix) for bucket, prefix in self.buckets):
            raise SourceRefused()

    def url_rule(self, url: str) -> UrlPattern | None:
        """The listed pattern `url` matches (None while no pattern is listed); SourceRefused when none does."""
        target = Url.parse(url)
        if not target.host:
            raise SourceRefused("no host")
        if not self.urls:
            return None
        matching = [p for p in self.urls if p.matches(target.scheme, target.host.lower(), target.port, target.path)]
        if not matching:
            raise SourceRefused()
        return max(matching, key=lambda p: p.names_host)  # a pattern naming the host outranks a wildcard

    def check_address(self, rule: UrlPattern | None, address: IPAddress | None, host: str = "") -> None:
        """A host named exactly by a pattern may be anywhere; any other only at a public address."""
        if rule is not None and rule.names_host:
            return
        if (address is not None and not is_public(address)) or (address is None and names_loopback(host)):
            raise SourceRefused("not a public address; list the host to allow it")


@lru_cache(maxsize=16)
def policy_for(value: str | None) -> SourcePolicy:
    return SourcePolicy.parse(value)


class SourceSettings(MiraSettings):
    """Read by every stage that admits or opens sources (ingest, framegrid)."""

    allowed_sources: str | None = Field(
        None,
        description="Comma-separated local roots, s3://bucket/prefix entries and http(s) URL patterns clips "
        "may come from; unset: any local file or S3 object, http(s) to public addresses.",
    )

    @field_validator("allowed_sources")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        policy_for(value)  # a bad entry fails at start-up, naming itself
        return value

    @property
    def source_policy(self) -> SourcePolicy:
        return policy_for(self.allowed_sources)
