"""``python -m jobs.crawl --week W``: the crawl job (see ``jobs.crawl.job``)."""

import sys

from jobs.crawl.job import main

if __name__ == "__main__":
    sys.exit(main())
