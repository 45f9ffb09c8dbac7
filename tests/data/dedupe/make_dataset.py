"""Build items.jsonl from stories.yaml: each story becomes 1–6 outlet variants with realistic edits.

Deterministic: every random choice is seeded by the story label, so rerunning gives the same file.
Run: .venv/bin/python tests/data/dedupe/make_dataset.py
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
MSK = timezone(timedelta(hours=3))

OUTLETS = (
    "Юго-Восточный курьер",
    "Звёздный бульвар",
    "Вестник Бибирево",
    "Марьинский вестник",
    "Москва 24",
    "Вечерняя Москва",
    "Мослента",
    "АГН «Москва»",
    "Восточный округ",
    "Южные горизонты",
    "Северная звезда",
    "На Западе Москвы",
    "Кузьминки сегодня",
    "Новые округа",
    "Люблинские вести",
    "Зеленоград сегодня",
)
AUTHORS = ("Ирина Волкова", "Алексей Морозов", "Мария Лебедева", "Дмитрий Соколов", "Ольга Егорова")
PHOTO = ("пресс-служба мэра Москвы", "mos.ru", "Агентство «Москва»", "архив редакции")
SOURCE_LINES = (
    "Об этом сообщила пресс-служба префектуры.",
    "Об этом сообщает портал mos.ru.",
    "Об этом рассказали в управе района.",
)
MONTHS = ("Янв", "Фев", "Мар", "Апр", "мая", "Июн", "Июл", "Авг", "Сен", "Окт", "Ноя", "Дек")


@dataclass(frozen=True)
class Story:
    group: str
    first: datetime
    outlets: int
    titles: tuple[str, ...]
    lead: str
    extra: str | None
    paraphrase: str | None


def load_stories(path: Path) -> list[Story]:
    raw: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Story(
            group=r["g"],
            first=datetime.strptime(r["d"], "%Y-%m-%d %H:%M").replace(tzinfo=MSK),
            outlets=int(r["n"]),
            titles=tuple(r["t"]),
            lead=" ".join(r["l"].split()),
            extra=r.get("x"),
            paraphrase=" ".join(r["p"].split()) if r.get("p") else None,
        )
        for r in raw
    ]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[А-ЯЁA-Z0-9«])", text) if s]


def page_date(moment: datetime) -> str:
    return f"{moment.day:02d} {MONTHS[moment.month - 1]} {moment.year} в {moment:%H:%M}"


def quotes_to_straight(text: str) -> str:
    return text.replace("«", '"').replace("»", '"')


def yo_to_ye(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def ye_to_yo(text: str) -> str:
    # Some outlets print ё where the base text has е: the matcher must not care.
    for plain, dotted in (("елк", "ёлк"), ("Бирюлев", "Бирюлёв"), ("черн", "чёрн"), ("еще", "ещё")):
        text = text.replace(plain, dotted)
    return text


def edit_lead(story: Story, rng: random.Random, variant: int) -> str:
    parts = sentences(story.lead)
    if variant == 0:
        return story.lead
    if variant == 1 and story.paraphrase is not None:
        return story.paraphrase
    op = rng.choice(("same", "short", "shortest", "extend", "extend"))
    if op == "short" and len(parts) >= 3:
        return " ".join(parts[:-1])
    if op == "shortest" and len(parts) >= 2:
        return " ".join(parts[: max(1, (len(parts) + 1) // 2)])
    if op == "extend":
        return f"{story.lead} {story.extra or rng.choice(SOURCE_LINES)}"
    return story.lead


def teaser(others: list[Story], rng: random.Random) -> str:
    picked = rng.sample(others, 2)
    blocks = [f"{o.titles[0]} {sentences(o.lead)[0]} {page_date(o.first)}" for o in picked]
    return "Читайте также " + " ".join(blocks)


def decorate(lead: str, story: Story, rng: random.Random, moment: datetime, outlet: str) -> str:
    if rng.random() < 0.3:
        lead = f"Опубликовано {page_date(moment)} | Текст: {outlet} {lead}"
    elif rng.random() < 0.3:
        lead = f"Текст: {rng.choice(AUTHORS)}. {lead}"
    if rng.random() < 0.3:
        lead = f"{lead} Фото: {rng.choice(PHOTO)}"
    if rng.random() < 0.2:
        lead = (
            f"{lead} Подписывайтесь на наш канал в Telegram, чтобы первыми узнавать новости района."
        )
    return lead


def variants(story: Story, others: list[Story]) -> list[dict[str, str]]:
    rng = random.Random(f"dedupe:{story.group}")
    outlets = rng.sample(OUTLETS, story.outlets)
    rows = []
    for i, outlet in enumerate(outlets):
        moment = story.first + timedelta(minutes=0 if i == 0 else rng.randint(5, 36 * 60))
        title = story.titles[i % len(story.titles)]
        lead = decorate(edit_lead(story, rng, i), story, rng, moment, outlet)
        if i and rng.random() < 0.35:
            lead = f"{lead} {teaser(others, rng)}"
        if rng.random() < 0.4:
            title, lead = quotes_to_straight(title), quotes_to_straight(lead)
        if rng.random() < 0.5:
            title, lead = yo_to_ye(title), yo_to_ye(lead)
        elif rng.random() < 0.5:
            title, lead = ye_to_yo(title), ye_to_yo(lead)
        rows.append(
            {
                "group": story.group,
                "outlet": outlet,
                "title": title,
                "lead": lead,
                "published": moment.isoformat(),
                "split": split_of(story.group),
            }
        )
    return rows


def split_of(group: str) -> str:
    """A story's items are all in one half; the half depends only on the label."""
    return "tune" if hashlib.sha1(group.encode()).digest()[0] % 2 == 0 else "heldout"


def build(stories: list[Story]) -> list[dict[str, str]]:
    rows = []
    for story in stories:
        rows.extend(variants(story, [o for o in stories if o.group != story.group]))
    rows.sort(key=lambda r: (r["published"], r["group"], r["outlet"]))
    return [{"id": f"item-{n:04d}", **row} for n, row in enumerate(rows, start=1)]


def main() -> None:
    rows = build(load_stories(HERE / "stories.yaml"))
    with (HERE / "items.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    halves = {s: sum(1 for r in rows if r["split"] == s) for s in ("tune", "heldout")}
    print(f"{len(rows)} items, {len({r['group'] for r in rows})} groups, {halves}")


if __name__ == "__main__":
    main()
