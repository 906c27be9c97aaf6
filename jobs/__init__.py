"""Discover Weekly jobs: each module is one job, runnable alone with ``python -m jobs.<name> --help``."""
