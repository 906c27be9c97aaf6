"""``python -m jobs.config [--conf FILE]``: every setting, resolved, with its meaning (see :func:`jobs.config.main`)."""

from jobs.config import main

raise SystemExit(main())
