"""The `dedupe:` section of service.yaml: tested defaults, overrides, and refused values."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.config import check_config, load_config
from aggregator.domain import DedupeSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    return target


def test_shipped_service_yaml_states_the_tested_defaults() -> None:
    assert load_config(ROOT / "config").service.dedupe == DedupeSettings()


def test_keys_left_out_keep_their_defaults(config_dir: Path) -> None:
    (config_dir / "service.yaml").write_text("dedupe:\n  min_score: 0.5\n  window: 3d\n")
    settings = load_config(config_dir).service.dedupe
    assert (settings.min_score, settings.window) == (0.5, timedelta(days=3))
    assert settings.min_containment == DedupeSettings().min_containment


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("dedupe:\n  min_score: 1.5\n", "min_score"),
        ("dedupe:\n  window: 30s\n", "window"),
        ("dedupe:\n  window: 1y\n", "window"),
        ("dedupe:\n  threshold: 0.5\n", "threshold"),
        (
            "dedupe:\n  containment_weight: 0\n  jaccard_weight: 0\n  title_weight: 0\n",
            "weights",
        ),
    ],
)
def test_bad_values_are_reported_with_file_and_line(
    config_dir: Path, body: str, fragment: str
) -> None:
    (config_dir / "service.yaml").write_text(body)
    config, issues = check_config(config_dir)
    assert config is None
    assert any("service.yaml:" in str(issue) and fragment in str(issue) for issue in issues), issues
