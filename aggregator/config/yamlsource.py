"""YAML files read with their node tree, so any value can be traced back to its line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aggregator.errors import ConfigIssue


@dataclass(frozen=True)
class YamlSource:
    """One parsed YAML file: its data and the node tree that knows every value's line."""

    file: str
    data: Any
    root: yaml.Node | None

    def line(self, path: Sequence[str | int]) -> int:
        """The 1-based line of the value at `path`, or of its deepest existing ancestor."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for step in path:
            child = _child(node, step)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def issue(self, path: Sequence[str | int], message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line(path), message)


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == step:
                # A scalar is reported on its key's line, where a reader looks for it.
                found: yaml.Node = value if not isinstance(value, yaml.ScalarNode) else key
                return found
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        child: yaml.Node = node.value[step]
        return child
    return None


def read_yaml(path: Path, *, required: bool = True) -> YamlSource | ConfigIssue | None:
    """Read and parse one file; a missing required file or a syntax error is a ConfigIssue."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ConfigIssue(file, 0, "file not found") if required else None
    except (OSError, UnicodeDecodeError) as exc:
        return ConfigIssue(file, 0, f"cannot read the file: {exc}")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return ConfigIssue(file, line, f"YAML syntax error: {_describe(exc)}")
    except yaml.YAMLError as exc:
        return ConfigIssue(file, 0, f"YAML error: {exc}")
    return YamlSource(file, data, root)


def _describe(exc: yaml.MarkedYAMLError) -> str:
    """The problem, and where the construct it interrupts began (an unclosed bracket, say)."""
    problem = exc.problem or "malformed YAML"
    if exc.context and exc.context_mark is not None:
        return f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
    return f"{exc.context}, {problem}" if exc.context else problem


def duplicate_keys(source: YamlSource) -> list[ConfigIssue]:
    """Keys given twice in one mapping: YAML silently keeps the last, which hides mistakes."""
    issues: list[ConfigIssue] = []
    stack = [source.root] if source.root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.value in first:
                    message = f"duplicate key '{key.value}' (first on line {first[key.value]})"
                    issues.append(ConfigIssue(source.file, line, message))
                elif isinstance(key, yaml.ScalarNode):
                    first[key.value] = line
                stack.append(value)
    return issues
