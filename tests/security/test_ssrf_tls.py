"""https sources: framegrid connects to the address it checked, yet verifies the certificate against the
host the URL names, so pinning the address never weakens TLS (a certificate for another name is refused)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.runtime.errors import BadInput
from shared.video import remote
from tests.framegrid.support import render, shown_indices
from tests.media.httpserver import serve_directory
from tests.media.videos import make_video


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate valid for DNS name `name` only (not for 127.0.0.1), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def trusted_cert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ssl.SSLContext]:
    """A server context for `localhost`, whose certificate this process trusts (as a private CA would be)."""
    cert, key = self_signed(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    remote._tls.cache_clear()  # the client context reads the trust store when it is made
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    yield server
    remote._tls.cache_clear()


def test_pinned_https_verifies_the_certificate_against_the_url_host(
    tmp_path: Path, trusted_cert: ssl.SSLContext
) -> None:
    videos = tmp_path / "videos"
    make_video(videos / "clip.mp4", seconds=2, fps=12)
    with serve_directory(videos, tls=trusted_cert) as (base, served):
        port = base.rsplit(":", 1)[1]
        assert ipaddress.ip_address(base.split("//")[1].rsplit(":", 1)[0]).is_loopback
        grid = render(f"https://localhost:{port}/clip.mp4", allowed_sources=f"https://localhost:{port}")
        assert len(shown_indices(grid)) == 8 and served.requests  # resolved, checked, then read by range
        served.requests.clear()
        with pytest.raises(BadInput) as caught:  # the same server and address, named by a host the cert lacks
            render(f"https://127.0.0.1:{port}/clip.mp4", allowed_sources=f"https://127.0.0.1:{port}")
    assert caught.value.reason.startswith("the TLS certificate of 127.0.0.1 failed verification")
    assert served.requests == []
