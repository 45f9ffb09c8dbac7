"""The command line as a sysadmin uses it: real processes, exit codes and output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def aggregator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_check_config_accepts_the_shipped_config() -> None:
    result = aggregator("check-config")
    assert result.returncode == 0, result.stderr
    assert "12 okrugs" in result.stdout


def test_check_config_reports_every_planted_error(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    feeds = config / "feeds.yaml"
    lines = feeds.read_text(encoding="utf-8").splitlines()
    first_district = next(i for i, line in enumerate(lines) if "district:" in line)
    lines[first_district] = lines[first_district].split("district:")[0] + "district: atlantida"
    first_url = next(i for i, line in enumerate(lines) if "url:" in line)
    lines.insert(first_url + 1, lines[first_url].replace("url:", "colour:", 1).replace("- ", "  "))
    feeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    topics = config / "topics.yaml"
    topics.write_text(topics.read_text(encoding="utf-8") + "  - slug: [broken\n", encoding="utf-8")

    result = aggregator("check-config", "--config", str(config))

    assert result.returncode == 2
    reported = result.stderr.splitlines()
    assert any(
        f"feeds.yaml:{first_district + 2}:" in line and "atlantida" in line for line in reported
    ), reported
    assert any(f"feeds.yaml:{first_url + 2}:" in line and "colour" in line for line in reported), (
        reported
    )
    assert any("topics.yaml:" in line for line in reported), reported


def test_check_config_on_missing_directory_exits_2(tmp_path: Path) -> None:
    result = aggregator("check-config", "--config", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "feeds.yaml" in result.stderr


def test_common_options_work_before_and_after_the_command(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "nowhere")
    for args in (
        ("-q", "--config", nowhere, "check-config"),
        ("check-config", "-q", "--config", nowhere),
        ("--config", nowhere, "-q", "check-config"),
    ):
        result = aggregator(*args)
        assert result.returncode == 2, args
        assert "nowhere/feeds.yaml" in result.stderr, args


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "agg.db"
    result = aggregator("db", "upgrade", env={"AGGREGATOR_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_export_opml_writes_every_output(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    target = tmp_path / "feeds.opml"
    result = aggregator("export-opml", "--output", str(target), "--format", "rss")
    assert result.returncode == 0, result.stderr
    root = ET.parse(target).getroot()
    urls = [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]
    # the city, 12 okrugs, 132 districts and 21 former settlements, 14 topics, 2 named outputs
    assert len(urls) == len(set(urls)) == 1 + 12 + 132 + 21 + 14 + 2
    assert all(url and url.endswith(".rss") for url in urls)
    stdout = aggregator("export-opml")
    assert stdout.returncode == 0 and "/feeds/district/kuzminki.atom" in stdout.stdout
