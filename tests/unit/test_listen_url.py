"""Self links follow the listening address unless a public URL is configured."""

from __future__ import annotations

from dataclasses import replace

from aggregator.app import with_listen_url
from aggregator.domain import Config, ServiceSettings

EMPTY = Config(okrugs=(), districts=(), sources=(), topics=())


def test_the_default_public_url_follows_the_port() -> None:
    assert with_listen_url(EMPTY, "127.0.0.1", 9000).service.public_url == "http://127.0.0.1:9000"


def test_a_wildcard_or_ipv6_address_becomes_a_usable_link() -> None:
    assert with_listen_url(EMPTY, "0.0.0.0", 80).service.public_url == "http://127.0.0.1:80"
    assert with_listen_url(EMPTY, "::1", 8081).service.public_url == "http://[::1]:8081"


def test_a_configured_public_url_is_kept() -> None:
    config = replace(EMPTY, service=ServiceSettings(public_url="https://feeds.example/"))
    assert with_listen_url(config, "0.0.0.0", 9000).service.public_url == "https://feeds.example/"
