"""YAML read with `yaml.safe_load`'s rules, plus the limits a hostile file needs.

- A node budget counted *after* aliases are expanded: a "billion laughs" file (a few hundred
  bytes of nested aliases that stand for billions of values) is refused before anything walks,
  copies, hashes or prints it. The count is memoised per node, so it costs one pass over the
  file's own nodes, however large the expansion would be.
- An alias that refers to a value containing it (a recursive structure) is refused.
- A key given twice in one mapping is an error naming the key and both lines (YAML would
  silently keep the last one). Merge keys (`<<: *defaults`) still override as YAML intends.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from autoorder.core.errors import AutoOrderError, ConfigError, describe

MAX_NODES = 100_000  # values after aliases are expanded; a real config has a few hundred
MAX_DEPTH = 50  # levels of nesting
MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A YAML document that is valid but refused; the message says why and where."""


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _key_text(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def check_size(root: Node, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> int:
    """The number of values `root` stands for once every alias is expanded (refused above the budget)."""
    sizes: dict[int, int | None] = {}

    def size(node: Node, path: str, depth: int) -> int:
        key = id(node)
        if key in sizes:
            known = sizes[key]
            if known is None:
                raise _Refused(f"line {_line(node)}{_at(path)}: an alias refers to a value that contains it (a recursive structure)")
            return known
        if depth > max_depth:
            raise _Refused(f"line {_line(node)}{_at(path)}: values are nested more than {max_depth} levels deep")
        sizes[key] = None
        n = 1
        if isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                n += size(child, f"{path}[{i}]", depth + 1)
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                name = _key_text(k)
                n += size(k, path, depth + 1) + size(v, f"{path}.{name}" if name is not None else path, depth + 1)
        if n > max_nodes:
            raise _Refused(
                f"line {_line(node)}{_at(path)}: this value stands for more than {max_nodes:,} values once its aliases "
                "(*name) are expanded (a 'billion laughs' file?); it was refused before being expanded"
            )
        sizes[key] = n
        return n

    return size(root, "", 0)


def _at(path: str) -> str:
    path = path.lstrip(".")
    if len(path) > 60:
        path = "..." + path[-57:]
    return f" (key {path!r})" if path else ""


class BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with a node budget and duplicate keys refused."""

    max_nodes = MAX_NODES

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        check_size(node, self.max_nodes)
        return self.construct_document(node)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == MERGE_TAG:
                    continue
                key, line = self.construct_object(key_node), _line(key_node)
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key: YAML's own check reports it
                    continue
                if first is not None:
                    where = f"twice on line {line}" if first == line else f"twice, at line {first} and line {line}"
                    raise _Refused(
                        f"the key {describe(key)} appears {where} of one mapping; YAML would silently keep only "
                        "the last. Expected each key once"
                    )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str, error: type[AutoOrderError] = ConfigError, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document with safe_load's rules and the limits above; `error` names `source`."""
    loader = BoundedLoader(text)
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise error(f"{source} is refused: {e}.") from None
    except RecursionError:
        raise error(f"{source} is refused: values are nested too deeply.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise error(
            f"{source} is not valid YAML{where}: {problem}. "
            "(Python tags such as !!python/object are refused: configs are read with yaml.safe_load.)"
        ) from None
    finally:
        loader.dispose()
