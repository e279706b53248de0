"""benchmarks/RESULTS.md is rebuilt from the history on every record: the latest run of each benchmark first."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import common  # noqa: E402


def test_the_page_shows_the_latest_run_of_each_benchmark_most_recent_first(tmp_path):
    page = tmp_path / "RESULTS.md"
    common.add_entry("Throughput", "Command: `python a.py`\n\n| x |\n|---|\n| 1 |", page)
    common.add_entry("Likelihood", "Command: `python b.py`\n\n| nll |\n|---|\n| 90 |", page)
    common.add_entry("Throughput", "Command: `python a.py --fast`\n\n| x |\n|---|\n| 2 |", page)
    history = (tmp_path / common.HISTORY_NAME).read_text()
    assert history.count("## Throughput (") == 2 and history.count("## Likelihood (") == 1
    text = page.read_text()
    assert text.count("## Throughput") == 1 and "python a.py --fast" in text and "| 1 |" not in text
    assert text.index("## Throughput") < text.index("## Likelihood")  # most recently recorded first
    assert "Latest run: 20" in text


def test_notes_are_listed_not_shown_and_code_blocks_do_not_split_entries():
    history = (
        "## Run A (2026-01-01 10:00 UTC)\n\n```yaml\n## not a heading\n```\n\n| a |\n"
        "## Why A is slow (note, 2026-01-02 10:00 UTC)\n\ntext of the note\n"
    )
    entries = common.parse_entries(history)
    assert [(e.title, e.note) for e in entries] == [("Run A", False), ("Why A is slow", True)]
    page = common.render_page(entries)
    assert "## not a heading" in page and "text of the note" not in page
    assert "- Why A is slow (2026-01-02 10:00 UTC)" in page
