"""The crawl job: crawl the seed sites into the week's ``pages`` table.

Starts from the seeds in ``<data>/web/seeds.txt`` (``http(s)://`` and ``file://`` URLs;
relative lines are files under ``<data>/web/``) plus ``crawl.seeds``, and writes the
``pages`` table (``week=W``): ``url, final_url, status, fetched_at, content_type, title,
text, content_hash, etag, last_modified, outcome, links``, one row per URL tried, with
counts per outcome in ``run_metrics/week=W/crawl.json``. It reads the previous week's
``pages`` partition (for conditional GETs) and nothing else of the warehouse. The rules
the crawl keeps are in ``jobs.culture.crawler``.

Outcomes: ``ok``, ``not_modified``, ``duplicate_content``, ``robots_disallowed``,
``not_allowed_host``, ``private_address``, ``dns_error``, ``unsupported_scheme``,
``page_limit``, ``http_4xx``, ``http_5xx``, ``timeout``, ``connection_error``,
``too_large``, ``not_html``, ``binary_content``, ``redirect_loop``,
``too_many_redirects``, ``bad_redirect`` and ``redirect_<refusal>`` for a redirect hop
refused by the crawler's rules (e.g. ``redirect_robots_disallowed``).

A crawl that finds nothing writes an empty table and a warning; it never fails the run.
Without any seed (real listening data usually has no ``web/`` folder) that is a skip:
the metrics say ``"skipped": "no seeds: ..."``, and the culture job skips in turn.

Run alone::

    python -m jobs.crawl --week 2026-W47
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import pandas as pd

from jobs.config import Config
from jobs.culture.crawler import Crawler
from jobs.culture.urls import read_seeds
from jobs.runtime.cli import week_job
from jobs.warehouse.store import Warehouse
from schemas.vocab import USABLE_PAGE_OUTCOMES

log = logging.getLogger("crawl")


def previous_pages(wh: Warehouse, week: str) -> dict[str, dict[str, Any]]:
    """The latest earlier week's usable pages by URL, for conditional GETs."""
    weeks = wh.weeks("pages", before=week)
    if not weeks:
        return {}
    frame = wh.read("pages", weeks[-1])
    frame = frame[frame["outcome"].isin(USABLE_PAGE_OUTCOMES)]
    return {
        r["url"]: {**r, "links": json.loads(r["links"]) if r.get("links") else []} for r in frame.to_dict("records")
    }


def run(config: Config, week: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    web_dir = config.paths.data / "web"
    seeds = read_seeds(web_dir, config.crawl.seeds)
    wh = Warehouse(config.paths.warehouse)
    crawler = Crawler(config.crawl, seeds, previous_pages(wh, week))
    rows, counts = crawler.run() if seeds else ([], {})
    skipped = None
    if not seeds:
        skipped = f"no seeds: no usable URL in {web_dir / 'seeds.txt'} or crawl.seeds"
        log.warning("skipped: %s; writing an empty pages table", skipped)
    elif not counts.get("ok") and not counts.get("not_modified"):
        log.warning("the crawl fetched no usable page: %s", counts)
    from schemas.tables import table

    columns = [c.name for c in table("pages").data_columns]  # the partition column lives in the path
    frame = pd.DataFrame(rows).reindex(columns=columns)
    frame["status"] = frame["status"].astype("Int32")
    frame["fetched_at"] = pd.to_datetime(frame["fetched_at"], utc=True)
    wh.write("pages", week, frame)
    seconds = time.perf_counter() - t0
    metrics = {
        "week": week,
        "seeds": len(seeds),
        "outcomes": dict(sorted(counts.items())),
        "rows": len(frame),
        "seconds": round(seconds, 2),
        "pages_per_second": round(sum(counts.get(k, 0) for k in ("ok", "duplicate_content")) / max(seconds, 1e-9), 1),
    }
    if skipped:
        metrics["skipped"] = skipped
    return metrics


def main(argv: list[str] | None = None) -> int:
    return week_job(
        "crawl",
        "Crawl the seed sites politely into the pages table.",
        lambda config, week, _: run(config, week),
        argv,
        metrics="crawl",
    )


if __name__ == "__main__":
    sys.exit(main())
