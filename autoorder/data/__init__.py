"""The data stage: manifests, image decoding, the grouped split, datasets, and dataset generators."""
