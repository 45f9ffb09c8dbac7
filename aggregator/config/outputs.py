"""`outputs.yaml`: named outputs (saved searches as feeds), their shape and cross-checks.

outputs:
  - name: uvao-transport          # served at /feeds/uvao-transport.atom (.rss, .json)
    title: ЮВАО: транспорт
    description: Метро, МЦД и автобусы Юго-Восточного округа
    filter:
      districts: [uvao]           # district or okrug slugs; any of them
      topics: [transport]         # topic slugs; any of them
      q: электробус               # words every story must contain (Russian stems)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aggregator.config.models import Slug, Strict, Text
from aggregator.config.yamlsource import YamlSource
from aggregator.domain import NamedOutput
from aggregator.errors import ConfigIssue
from aggregator.search import query_words

RESERVED_NAMES = frozenset({"all", "district", "topic"})
"""Names taken by the built-in outputs under /feeds/."""


class FilterModel(Strict):
    districts: Annotated[list[Slug], Field(default_factory=list)]
    topics: Annotated[list[Slug], Field(default_factory=list)]
    q: str = ""


class OutputModel(Strict):
    name: Slug
    title: Text
    description: str = ""
    filter: Annotated[FilterModel, Field(default_factory=FilterModel)]


class OutputsFile(Strict):
    outputs: Annotated[list[OutputModel], Field(default_factory=list)]


def check_outputs(
    source: YamlSource, outputs: list[OutputModel], areas: set[str], topics: set[str]
) -> list[ConfigIssue]:
    """Unknown slugs, reserved or repeated names and queries without words, each at its line."""
    issues: list[ConfigIssue] = []
    first: dict[str, int] = {}
    for i, output in enumerate(outputs):
        where = ("outputs", i)
        line = source.line((*where, "name"))
        if output.name in RESERVED_NAMES:
            issues.append(
                source.issue((*where, "name"), f"outputs[{i}].name: '{output.name}' is reserved")
            )
        elif output.name in first:
            message = f"duplicate output name '{output.name}' (first on line {first[output.name]})"
            issues.append(ConfigIssue(source.file, line, message))
        else:
            first[output.name] = line
        rules = output.filter
        for j, slug in enumerate(rules.districts):
            if slug not in areas:
                issues.append(
                    source.issue(
                        (*where, "filter", "districts", j),
                        f"outputs[{i}].filter.districts: unknown district or okrug slug '{slug}'",
                    )
                )
        for j, slug in enumerate(rules.topics):
            if slug not in topics:
                issues.append(
                    source.issue(
                        (*where, "filter", "topics", j),
                        f"outputs[{i}].filter.topics: unknown topic slug '{slug}'",
                    )
                )
        if rules.q.strip() and not query_words(rules.q):
            issues.append(
                source.issue((*where, "filter", "q"), f"outputs[{i}].filter.q: no words to search")
            )
    return issues


def named_outputs(outputs: list[OutputModel]) -> tuple[NamedOutput, ...]:
    return tuple(
        NamedOutput(
            name=o.name,
            title=o.title,
            description=o.description,
            areas=tuple(o.filter.districts),
            topics=tuple(o.filter.topics),
            query=o.filter.q.strip(),
        )
        for o in outputs
    )
