"""One spider per source kind; each is a thin crawl around crawlers.extract."""
