"""The run stage: one search from config to results, and the commands around a finished run.

- `search`: the pipeline, one call per step (`run_search`).
- `stages`: each step (load, space and preflight, tuner, finish); `folder`: the run folder's
  state (create, resume, overwrite); `preflight`: environment and plugin checks before any
  trial; `progress`: one line per finished trial; `outcome`: trial records, results and
  warnings; `export`: the best model and its test predictions.
- `validate`, `predict`: `autoorder validate` and `autoorder predict`.
"""
