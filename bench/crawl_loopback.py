"""Crawl throughput over real HTTP: serve the sample world's web on 127.0.0.1 and crawl it
with the delay set to zero (politeness delays would otherwise dominate).

Run::

    python -m bench.crawl_loopback [--web data/sample/web]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path

from jobs.config import PROJECT_ROOT, CrawlConf
from jobs.culture.crawler import Crawler
from jobs.culture.urls import normalise_url


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web", type=Path, default=PROJECT_ROOT / "data" / "sample" / "web")
    args = parser.parse_args(argv)
    handler = functools.partial(_Quiet, directory=str(args.web))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seed = normalise_url(f"http://127.0.0.1:{server.server_address[1]}/index.html")
    try:
        start = time.perf_counter()
        _, counts = Crawler(CrawlConf(delay_seconds=0.0), [seed]).run()
        seconds = time.perf_counter() - start
    finally:
        server.shutdown()
    fetched = sum(v for k, v in counts.items() if k not in ("duplicate_url",))
    print(
        json.dumps(
            {
                "pages_fetched": fetched,
                "outcomes": counts,
                "seconds": round(seconds, 2),
                "pages_per_second": round(fetched / seconds, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
