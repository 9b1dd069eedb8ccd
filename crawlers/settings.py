"""Scrapy settings for every Scrutineer crawl, derived from the one Settings object.

Read when a crawl subprocess starts (never when a DAG file is parsed).
"""
from __future__ import annotations

from pipelines.settings import Settings

_s = Settings()

BOT_NAME = "scrutineer"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"
USER_AGENT = _s.user_agent
ROBOTSTXT_OBEY = True

# Only http and https: Scrapy enables file, s3, ftp and data handlers by default.
DOWNLOAD_HANDLERS = {"file": None, "s3": None, "ftp": None, "data": None}
TWISTED_DNS_RESOLVER = "crawlers.guard.GuardedResolver"
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawlers.robots.StrictRobotsTxtMiddleware": 100,
    "crawlers.guard.NetworkGuardMiddleware": 50,
}
ITEM_PIPELINES = {"crawlers.pipelines.StoragePipeline": 300}

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.05
AUTOTHROTTLE_MAX_DELAY = 10.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = _s.download_timeout_s
DOWNLOAD_MAXSIZE = _s.download_maxsize
DOWNLOAD_WARNSIZE = _s.download_maxsize // 2
DNS_TIMEOUT = 10
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
