"""RELIABILITY T14: self-signed, expired, wrong-host and TLS 1.0-only servers are refused.

Certificates come from a trustme CA that nothing trusts by default; host names (`news.test`, ...)
map to 127.0.0.1 through the injected test resolver. A good certificate from that CA is accepted
only when the CA is configured explicitly (SCRUTINEER_CA_BUNDLE), and no failure ever falls back
to an unverified connection: the refused servers never receive a single HTTP request.
"""
from __future__ import annotations

import json
import socket
import ssl
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faultserver import FaultServer, assert_ok_plus, collect, import_sources, respond, rss

from core.settings import Settings
from pipelines import collect as collect_stage
from pipelines import sources

HOSTS = ("news.test", "self.test", "old.test", "wrong.test", "tls10.test")


def _self_signed(tmp: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "self.pem", tmp / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _server_context(leaf: Any = None, files: tuple[Path, Path] | None = None, tls10: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls10:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1
    if leaf is not None:
        leaf.configure_cert(ctx)
    else:
        assert files is not None
        ctx.load_cert_chain(*files)
    return ctx


def _speaks_only_tls10(port: int, ca: trustme.CA) -> bool:
    """Control: a client that still allows TLS 1.0 completes the handshake, and gets TLS 1.0."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.configure_trust(client)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname="tls10.test") as tls:
            return tls.version() == "TLSv1"
    except (ssl.SSLError, OSError):
        return False


@pytest.fixture
def tls_servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ca = trustme.CA()
    past = datetime.now(timezone.utc) - timedelta(days=30)
    contexts = {
        "trusted": _server_context(ca.issue_cert("news.test")),
        "self-signed": _server_context(files=_self_signed(tmp_path, "self.test")),
        "expired": _server_context(ca.issue_cert("old.test", not_before=past - timedelta(days=30), not_after=past)),
        "wrong-host": _server_context(ca.issue_cert("other.test")),
        "tls10": _server_context(ca.issue_cert("tls10.test", key_type=trustme.KeyType.RSA), tls10=True),
    }
    servers = {name: FaultServer(ssl_context=ctx) for name, ctx in contexts.items()}
    for srv in servers.values():
        srv.route("/feed.xml", respond(rss("tls-feed")))
        srv.__enter__()
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        yield {"ca": ca, "ca_file": ca_file, "servers": servers}
    finally:
        for srv in servers.values():
            srv.stop()


def _env(ca_file: Path | None) -> dict[str, str]:
    env = {"SCRUTINEER_TEST_RESOLVER": "hosts",
           "SCRUTINEER_TEST_HOSTS": json.dumps({h: ["127.0.0.1"] for h in HOSTS}),
           "SCRUTINEER_CA_BUNDLE": str(ca_file) if ca_file else ""}
    return env


@pytest.mark.timeout(90)
def test_t14_bad_certificates_and_old_tls_refused_no_fallback(tmp_path: Path, sqlite_url: str,
                                                            tls_servers: dict[str, Any]) -> None:
    servers = tls_servers["servers"]
    host = {"trusted": "news.test", "self-signed": "self.test", "expired": "old.test", "wrong-host": "wrong.test",
            "tls10": "tls10.test"}
    tls10_real = _speaks_only_tls10(servers["tls10"].port, tls_servers["ca"])
    with FaultServer() as plain:
        plain.route("/good.xml", respond(rss("plain-http")))
        import_sources(sqlite_url, tmp_path, [
            {"name": "plain-http", "kind": "rss", "url": plain.url("/good.xml"), "follow_links": False},
            *({"name": name, "kind": "rss", "url": srv.url("/feed.xml", host=host[name]), "follow_links": False}
              for name, srv in servers.items()),
        ])
        collect(sqlite_url, env=_env(tls_servers["ca_file"]))
    faulty = {"self-signed": "tls certificate verify failed", "expired": "tls certificate verify failed",
              "wrong-host": "does not match the host name", "tls10": "tls"}
    listing = assert_ok_plus(sqlite_url, faulty=faulty, good={"plain-http": 2, "trusted": 2})
    for name in faulty:  # refused during the handshake: not one HTTP request got through
        assert sum(servers[name].hits.values()) == 0, (name, servers[name].hits)
        assert servers[name].connections >= 1
    assert servers["trusted"].hits["/feed.xml"] == 1
    print({name: listing[name]["last_error_message"] for name in faulty})
    assert tls10_real, "control: the TLS 1.0 server should complete a TLS 1.0 handshake with a lenient client"
    assert "1.2" in listing["tls10"]["last_error_message"] or "protocol" in listing["tls10"]["last_error_message"]


@pytest.mark.timeout(60)
def test_t14_test_ca_not_trusted_unless_configured(sqlite_url: str, tls_servers: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    srv = tls_servers["servers"]["trusted"]
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "trusted", "kind": "rss", "url": srv.url("/feed.xml", host="news.test"),
                           "follow_links": False})
    for key, value in _env(None).items():
        monkeypatch.setenv(key, value)
    refused = collect_stage.run(settings)[0]
    assert refused.status == "error" and "TLS certificate verify failed" in (refused.message or ""), refused
    assert sum(srv.hits.values()) == 0
    monkeypatch.setenv("SCRUTINEER_CA_BUNDLE", str(tls_servers["ca_file"]))
    accepted = collect_stage.run(settings)[0]
    assert accepted.status == "ok" and accepted.new == 2, accepted
    assert srv.hits["/feed.xml"] == 1


def test_crawls_use_the_verifying_context_factory() -> None:
    from crawlers import settings as crawl_settings

    assert crawl_settings.DOWNLOADER_CLIENTCONTEXTFACTORY == "crawlers.tls.VerifyingContextFactory"
    assert crawl_settings.DOWNLOAD_VERIFY_CERTIFICATES is True
