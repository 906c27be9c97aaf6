"""Run a command and report its wall time and the peak summed RSS of its whole process tree.

``/usr/bin/time -v`` reports only the largest single process; a DAG run is many
processes at once (Airflow, spark-submit's JVM, the Python driver), so this samples
every descendant's RSS from ``/proc`` every 0.2 s and keeps the peak of the sum.

Run::

    python -m bench.peak_memory -- make run
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_rss(root: int) -> int:
    """Summed resident set size, in bytes, of ``root`` and all its descendants."""
    tree = _children()
    total, stack = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        stack.extend(tree.get(pid, []))
    return total


def measure(argv: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> dict[str, object]:
    """Run ``argv`` (stdout and stderr to ``log`` when given); its exit code, wall time and peak tree RSS."""
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("w")) if log else None
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)
    return {
        "command": " ".join(argv),
        "exit": proc.returncode,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_tree_rss_gib": round(peak / 2**30, 2),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    result = measure(argv)
    print(json.dumps(result), file=sys.stderr)
    return int(result["exit"])  # type: ignore[call-overload]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
