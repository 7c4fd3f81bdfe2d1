"""Conformance checks for plugin authors' own test suites (public API).

```python
from autoorder.testing import check_backbone, check_encoding

def test_my_backbone():
    check_backbone(MyBackbone)          # raises PluginError naming every failed check
```

The checks themselves live in `autoorder.model.conformance` (full checks, which build the
plugin on a tiny input) and `autoorder.registry.shape` (the cheap ones run at load time).
"""

from autoorder.model.conformance import Check, CheckReport, check_backbone, check_encoding, check_plugin

__all__ = ["Check", "CheckReport", "check_backbone", "check_encoding", "check_plugin"]
