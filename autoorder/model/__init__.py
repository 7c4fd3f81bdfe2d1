"""The model side: backbones, order encodings, the search space, the feature cache and the tuner.

- `assembly`: a trunk and a head (pool, order encoding, dense) into training and export models.
- `graph`: clean cuts of a functional graph, and splitting a model at one.
- `backbones`, `encodings`: the built-in plugins; `catalog`: the registries a config sees.
- `features`: one backbone pass per search (`BackboneBank`, `FeatureCache`).
- `space`: the search space as one `kt.HyperModel`; `tuner`: a stock oracle and a thin tuner;
  `callbacks`: what runs inside a trial's fit (checkpoints, time limits, NaN guard).
- `conformance`: the full plugin checks; `session`, `quiet`: process-wide TensorFlow state.

Importing this package imports nothing; each module imports Keras itself.
"""
