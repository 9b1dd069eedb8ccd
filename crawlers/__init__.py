"""The Scrapy project: spiders navigate, `extract` turns pages into Article fields."""
