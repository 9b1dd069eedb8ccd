"""HTTPS that verifies: the server's certificate chain, its host name, TLS 1.2 or newer.

Scrapy's default context factory does not verify certificates at all (it accepts self-signed,
expired and wrong-host certificates), and trafilatura's downloader even falls back to insecure
TLS on failure (`INSECURE_SSL_FALLBACK`). Scrutineer never does either: a certificate that does
not verify is a per-source error. The trust roots are the system's CAs plus, when set, the PEM
bundle in `SCRUTINEER_CA_BUNDLE` (a private CA, or a test CA); there is no switch to turn
verification off.
"""
from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.ssl import OpenSSLDefaultPaths, TLSVersion, optionsForClientTLS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

#: The oldest protocol accepted (TLS 1.0 and 1.1 are deprecated by RFC 8996).
MIN_TLS = TLSVersion.TLSv1_2


class SystemAndBundleTrust(OpenSSLDefaultPaths):
    """The platform's default CA paths, plus one extra PEM bundle if configured."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self.ca_bundle = ca_bundle or None

    def _addCACertsToContext(self, context: SSL.Context) -> None:  # noqa: N802 - Twisted's name
        super()._addCACertsToContext(context)
        if self.ca_bundle:
            context.load_verify_locations(self.ca_bundle)


@implementer(IPolicyForHTTPS)
class VerifyingContextFactory:
    """DOWNLOADER_CLIENTCONTEXTFACTORY: a verifying `optionsForClientTLS` for every host."""

    def __init__(self, ca_bundle: str | None = None) -> None:
        self.trust = SystemAndBundleTrust(ca_bundle)

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> VerifyingContextFactory:
        # Scrapy passes `method=` (the TLS method setting); the minimum version below replaces it.
        return cls(crawler.settings.get("SCRUTINEER_CA_BUNDLE") or None)

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:  # noqa: N802 - Twisted's name
        # SystemAndBundleTrust implements IOpenSSLTrustRoot through zope.interface, which mypy cannot see.
        return optionsForClientTLS(hostname.decode("ascii"), trustRoot=self.trust,  # type: ignore[arg-type]
                                   extraCertificateOptions={"raiseMinimumTo": MIN_TLS})
