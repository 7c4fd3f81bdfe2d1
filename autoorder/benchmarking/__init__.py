"""Does the upload order help? The benchmark protocol, its figures, and the demo.

- `protocol`: two searches (image-only and order-aware, same split and budget), each best
  configuration retrained over seeds and tested; writes benchmark.json and the reports.
- `retrain`: one configuration from scratch with one seed; `summary`: every figure from the
  per-seed test probabilities (plain numpy); `demo`: the embedded default (`autoorder demo`).

Named `benchmarking`, not `benchmark`: `autoorder.benchmark` is reserved for the Python API.
"""
