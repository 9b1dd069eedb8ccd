"""Scrapy settings for every Scrutineer crawl, derived from the one Settings object.

Read when a crawl subprocess starts (never when a DAG file is parsed).
"""
from __future__ import annotations

from core.settings import Settings

_s = Settings()

BOT_NAME = "scrutineer"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"
USER_AGENT = _s.user_agent
ROBOTSTXT_OBEY = True

# Only http and https: Scrapy enables file, s3, ftp and data handlers by default.
# http/https go through a handler that sends nothing to a host inside its Retry-After wait.
DOWNLOAD_HANDLERS = {"file": None, "s3": None, "ftp": None, "data": None,
                     "http": "crawlers.politeness.RestingHTTPHandler",
                     "https": "crawlers.politeness.RestingHTTPHandler"}
TWISTED_DNS_RESOLVER = "crawlers.guard.GuardedResolver"
# Verify every certificate (Scrapy's default factory accepts any): system CAs plus
# SCRUTINEER_CA_BUNDLE, TLS 1.2 or newer, no insecure fallback (crawlers/tls.py).
DOWNLOADER_CLIENTCONTEXTFACTORY = "crawlers.tls.VerifyingContextFactory"
DOWNLOAD_VERIFY_CERTIFICATES = True
DOWNLOAD_TLS_MIN_VERSION = "TLSv1.2"
SCRUTINEER_CA_BUNDLE = _s.ca_bundle
EXTENSIONS = {"crawlers.guard.BodySizeTracker": 0,
              # the limit on the crawl's own current RSS, not the peak it inherits (crawlers/memusage.py)
              "scrapy.extensions.memusage.MemoryUsage": None, "crawlers.memusage.CurrentMemoryUsage": 0}
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawlers.robots.StrictRobotsTxtMiddleware": 100,
    "crawlers.guard.NetworkGuardMiddleware": 50,
    # Retry-After honoured: a 429/503 asking for a wait is not retried at once (crawlers/politeness.py).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.politeness.RetryAfterMiddleware": 550,
    # A body with no length that ends mid-document (a reset) is fetched again, then refused (T08).
    "crawlers.integrity.CloseDelimitedCheck": 585,
    # Requests marked meta["pace"] wait for their host's slot under the source's `rate:`.
    "crawlers.politeness.PacingMiddleware": 950,
    # Scrapy's decoded every whole page to read its head (crawlers/metarefresh.py).
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawlers.metarefresh.HeadMetaRefreshMiddleware": 580,
}
ITEM_PIPELINES = {"crawlers.pipelines.StoragePipeline": 300}

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# Scrapy 2.13+ starts this many asyncio worker tasks for every callback's output, even one item:
# 100 (the default) cost more per article page than storing it. Our pipeline is synchronous.
CONCURRENT_ITEMS = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.05
AUTOTHROTTLE_MAX_DELAY = 10.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
DOWNLOAD_DELAY = 0
# DOWNLOAD_TIMEOUT is a total deadline per request in the HTTP/1.1 handler (a callLater that
# cancels the whole download), not a per-read timeout, so a trickling server is cut too (T07).
DOWNLOAD_TIMEOUT = _s.download_timeout_s
# Applies to the body as received and again after decompression (HttpCompressionMiddleware,
# SitemapSpider's gunzip; Scrapy >= 2.13.4, CVE-2025-6176).
DOWNLOAD_MAXSIZE = _s.download_maxsize
DOWNLOAD_WARNSIZE = _s.download_maxsize // 2
DNS_TIMEOUT = _s.dns_timeout_s
# A body cut short (reset, short against Content-Length, broken chunking) is an error and is
# retried, never parsed: a truncated page must not become a stored article (T08).
DOWNLOAD_FAIL_ON_DATALOSS = True
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = True
URLLENGTH_LIMIT = 2083
DEPTH_LIMIT = 3
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
MEMUSAGE_ENABLED = True
MEMUSAGE_LIMIT_MB = 1024
CLOSESPIDER_TIMEOUT = max(_s.crawl_timeout_s - 10, 10)
LOG_LEVEL = "WARNING"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
