"""Speed and memory benchmarks (`make bench`); quality studies are in `studies/`. Never part of `make test`."""
