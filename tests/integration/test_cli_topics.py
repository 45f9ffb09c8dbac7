"""`aggregator check-config` reports topic pattern errors with file and line, as a process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bad_topic_pattern_is_reported_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    topics = config / "topics.yaml"
    lines = topics.read_text(encoding="utf-8").splitlines()
    slug_line = next(i for i, line in enumerate(lines) if line.strip() == "- slug: sport")
    lines[slug_line + 1 : slug_line + 1] = ["    patterns:", "      - 'забег(а|ов'"]
    topics.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "aggregator", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{topics}:{slug_line + 3}: topics["), result.stderr
    assert "bad regular expression 'забег(а|ов'" in first
