"""Which weeks of the Discover Weekly table are published: the ``week=`` partitions under
``<warehouse>/discover_weekly/``, oldest first (staging folders start with ``_`` and are skipped)."""

from __future__ import annotations

from pathlib import Path

from jobs.common.paths import table_dir


def published_weeks(warehouse: Path) -> list[str]:
    """The published ISO weeks, sorted; empty when nothing is published yet."""
    root = table_dir(warehouse, "discover_weekly")
    if not root.exists():
        return []
    return sorted(p.name.split("=", 1)[1] for p in root.iterdir() if p.name.startswith("week=") and p.is_dir())
