"""After an update cycle, ping the WebSub hub for the outputs whose stories changed.

Orchestration only: storage says which stories changed since the cycle began, `websub` turns
them into output URLs, and `fetch.publish_to_hub` does the HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from aggregator import websub
from aggregator.domain import Config
from aggregator.fetch import publish_to_hub

log = logging.getLogger(__name__)


class ChangedStories(Protocol):
    def changed_story_tags(
        self, since: datetime
    ) -> list[tuple[frozenset[str], frozenset[str]]]: ...


class HubNotifier:
    """Announces changed outputs to `config.service.websub_hub`; a no-op without a hub."""

    def __init__(self, config: Config, storage: ChangedStories) -> None:
        self.config = config
        self.storage = storage
        self.sent: list[str] = []

    async def after_cycle(self, started: datetime) -> None:
        """Publish every output touched by stories created or changed since `started`."""
        hub = self.config.service.websub_hub
        if not hub:
            return
        changed = await asyncio.to_thread(self.storage.changed_story_tags, started)
        urls = websub.topic_urls(self.config, changed)
        if not urls:
            return
        failures = await publish_to_hub(hub, urls, self.config.service)
        self.sent.extend(urls)
        for failure in failures:
            log.warning("WebSub hub %s: %s", hub, failure)
