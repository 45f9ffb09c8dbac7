"""The story page, /story/{id}: one story with every outlet that carried it (Russian HTML)."""

from __future__ import annotations

from typing import Protocol

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from aggregator import explain
from aggregator.domain import Story, StoryMember
from aggregator.similarity import Thresholds


class StoryReader(Protocol):
    """What the story page needs from `aggregator.storage.Storage`."""

    def story(self, story_id: int) -> Story | None: ...

    def story_members(self, story_id: int) -> list[StoryMember]: ...


class StoryPage:
    """The handler (`page`) of /story/{story_id:int}: a plain def, run in Starlette's threadpool."""

    def __init__(
        self,
        storage: StoryReader,
        templates: jinja2.Environment,
        labels: dict[str, str],
        limits: Thresholds,
        public_url: str,
    ) -> None:
        self.storage = storage
        self.templates = templates
        self.labels = labels
        self.limits = limits
        self.public_url = public_url

    def page(self, request: Request) -> Response:
        story_id: int = request.path_params["story_id"]
        story = self.storage.story(story_id)
        if story is None:
            text = f"Новости № {story_id} нет.\nВсе районы, округа и темы: {self.public_url}/\n"
            return PlainTextResponse(text, status_code=404)
        members = self.storage.story_members(story_id)
        page = self.templates.get_template("story.html").render(
            story=story,
            members=members,
            scores=explain.similarities(members, self.limits),
            labels=self.labels,
        )
        return HTMLResponse(page)
