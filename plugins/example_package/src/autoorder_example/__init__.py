"""An example autoorder plugin package (it never imports autoorder)."""

from autoorder_example.backbones import ExampleCNN
from autoorder_example.encodings import OrderBias

__all__ = ["ExampleCNN", "OrderBias"]
