"""Package the project's code for Spark: ``build/pipeline.zip`` holds ``jobs/`` and ``schemas/``.

Spark jobs are submitted with ``--py-files build/pipeline.zip`` so that executors on a
cluster import the same code as the driver. The zip is rebuilt by every DAG run (it
takes milliseconds) and is byte-for-byte deterministic: files in sorted order with a
fixed timestamp, so unchanged code gives an unchanged zip.

Run alone::

    python -m jobs.runtime.package        # prints the zip's path
"""

from __future__ import annotations

import os
import sys
import uuid
import zipfile
from pathlib import Path

from jobs.config import PROJECT_ROOT

PACKAGES = ("jobs", "schemas")


def build_zip(root: Path = PROJECT_ROOT, out: Path | None = None) -> Path:
    """Write the code zip atomically and return its path."""
    out = out or root / "build" / "pipeline.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}"
    files = sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    print(build_zip())
    sys.exit(0)
