"""Changes to `feeds.yaml` written by commands: round-trip YAML, so comments and order stay.

ruamel.yaml rather than appending text: it keeps every comment, key order and quoting of the
file as the sysadmin wrote it, and it quotes new values correctly (titles with «», colons or a
leading quote would need hand-written escaping). The new file is validated with the rest of
the config before it replaces the old one.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML

from aggregator.config.loader import check_config
from aggregator.errors import ConfigError, ConfigIssue

__all__ = ["append_source"]

FEEDS_FILE = "feeds.yaml"


def append_source(directory: str | os.PathLike[str], entry: Mapping[str, object]) -> None:
    """Append one source to feeds.yaml; raise ConfigError (and change nothing) if it is invalid."""
    path = Path(directory) / FEEDS_FILE
    yaml = _round_trip()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), 0, "file not found")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ConfigError([ConfigIssue(str(path), 1, "expected a mapping with the key feeds")])
    data["feeds"].append(dict(entry))
    out = io.StringIO()
    yaml.dump(data, out)
    _validated_write(Path(directory), path, out.getvalue())


def _round_trip() -> YAML:
    yaml = YAML()  # round-trip mode: comments, order and quoting survive
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    yaml.allow_unicode = True
    yaml.preserve_quotes = True
    return yaml


def _validated_write(directory: Path, path: Path, text: str) -> None:
    """Check the new text with the whole config in a scratch copy, then replace the file."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "config"
        shutil.copytree(directory, copy)
        (copy / FEEDS_FILE).write_text(text, encoding="utf-8")
        _, issues = check_config(copy)
    if issues:
        raise ConfigError([ConfigIssue(str(path), issue.line, issue.message) for issue in issues])
    temporary = path.with_suffix(".yaml.new")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
