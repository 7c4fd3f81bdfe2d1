"""Plugins as a registry: backbones and order encodings by name, found in a fixed order.

- `table`: the `Registry` (one dict per kind) and the built-ins' decorators `register_*`.
- `discovery`: plugin folders and entry points, loaded in a fixed order after the built-ins.
- `protocols`: the shapes of plugins (documentation; nothing needs to inherit from them).
- `shape`: the cheap conformance checks run when a plugin is loaded (attributes, signatures).

The built-ins themselves live on the model side (`autoorder.model.backbones`,
`autoorder.model.encodings`) and register here; this package never imports them
(`autoorder.model.catalog` does).
"""
