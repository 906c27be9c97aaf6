"""``python -m jobs.tools.world``: generate the sample world (see ``jobs.tools.world.cli``)."""

import sys

from jobs.tools.world.cli import main

sys.exit(main())
