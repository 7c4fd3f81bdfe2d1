"""Foundations: errors, config, atomic files, statistics. Plain Python; never imports TensorFlow."""
