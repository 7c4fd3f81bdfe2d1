"""Reports: report.md and plots/ for a run folder or a benchmark folder, from their result files.

- `markdown`: the document builder and table helpers both reports share.
- `search`: a search's report (results.json, test_predictions.csv); `benchmark`: a benchmark's
  report (benchmark.json); `plots`: one function, one PNG; `folder`: whichever of the two a
  folder holds (`autoorder report`).

Reports read results through `autoorder.schema` and never import TensorFlow or Keras, so a
report takes a second, not a framework start-up.
"""
