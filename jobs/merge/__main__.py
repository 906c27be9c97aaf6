"""``python -m jobs.merge --week W``: the merge job (:func:`jobs.merge.job.main`)."""

import sys

from jobs.merge.job import main

sys.exit(main())
