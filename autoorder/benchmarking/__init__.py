"""Does the upload order help? The benchmark protocol, its figures, and the demo.

- `protocol`: K outer repeats (each its own split and searches), every figure from the
  predictions file; writes benchmark.json, predictions.csv.gz and the reports.
- `repeat`: one repeat (two searches, each best configuration retrained over seeds, the
  controls); `retrain`: one configuration from scratch with one seed.
- `controls`: the orders each control feeds; `figures`: every figure of benchmark.json from
  predictions.csv.gz (plain numpy and scipy); `views`: the view classifier; `demo`: the embedded
  default (`autoorder demo`).

Named `benchmarking`, not `benchmark`: `autoorder.benchmark` is reserved for the Python API.
"""
