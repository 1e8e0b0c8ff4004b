"""Performance measurements: `python -m xscale.perf` (`make bench`) for the figures of
docs/performance.md, `python -m xscale.perf.tokenize` for tokenisation throughput on real files.
Every figure is a ratio of two things measured in the same run."""
