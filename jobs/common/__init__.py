"""Small helpers shared by the jobs: configuration, weeks and paths, atomic writes, metrics."""
