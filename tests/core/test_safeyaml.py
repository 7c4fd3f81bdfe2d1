"""Bounded YAML: the node budget after aliases, recursion, nesting and duplicate keys."""

from __future__ import annotations

import time

import pytest
import yaml

from autoorder.core.errors import ConfigError, RunError
from autoorder.core.safeyaml import check_size, load_yaml


def laughs(levels: int, fan: int = 9) -> str:
    lines = ["a: &a [" + ",".join(["x"] * fan) + "]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * fan) + "]" for i in range(levels)]
    return "\n".join(lines) + "\n"


def test_ordinary_yaml_reads_as_safe_load_reads_it():
    text = "data: {manifest: m.csv, image_size: 16}\nspace:\n  backbones: [a, b]\n  learning_rate: [1.0e-3, 3.0e-4]\nx: null\n"
    assert load_yaml(text, "c.yaml") == yaml.safe_load(text)
    assert load_yaml("", "c.yaml") is None


def test_aliases_within_the_budget_are_fine_and_merge_keys_still_override():
    assert load_yaml("base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  x: 3\n", "c.yaml")["over"] == {"x": 3, "y": 2}
    assert len(load_yaml(laughs(3), "c.yaml")["d"]) == 9  # 9**4 values: fine


def test_a_billion_laughs_is_refused_before_expansion_in_milliseconds():
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"c.yaml is refused: line 6 \(key 'f'\): this value stands for more than 100,000 values"):
        load_yaml(laughs(8), "c.yaml")
    assert time.monotonic() - started < 1.0


def test_the_budget_counts_expanded_values_once_per_node():
    node = yaml.compose(laughs(3))
    assert check_size(node) == 1 + 4 + 10 + 91 + 820 + 7381  # the mapping, its 4 keys, a = 1 + 9, b = 1 + 9 * 10, ...


@pytest.mark.parametrize(
    "text, match",
    [
        ("a: &a [*a]\n", r"line 1 \(key 'a\[0\]'\): an alias refers to a value that contains it"),
        ("a: " + "[" * 60 + "]" * 60 + "\n", r"nested more than 50 levels deep"),
        # Deeper than the parser's recursion under Python's default limit; TensorFlow raises the
        # limit, and then the depth check answers first: either way, one clear refusal.
        ("a: " + "[" * 600 + "]" * 600 + "\n", r"values are nested (too deeply|more than 50 levels deep)"),
        ("a: 1\nb: 2\na: 3\n", r"the key 'a' appears twice, at line 1 and line 3 of one mapping; YAML would silently keep only the last"),
        ("{a: 1, a: 2}\n", r"the key 'a' appears twice on line 1"),
        ("x:\n  y: 1\n  y: 1\n", r"the key 'y' appears twice, at line 2 and line 3"),
        ("a: !!python/object/apply:os.system ['true']\n", r"not valid YAML at line 1.*safe_load"),
    ],
    ids=["recursive-alias", "nested-60", "nested-600", "duplicate-key", "duplicate-key-one-line", "duplicate-nested-key", "python-tag"],
)
def test_refused_documents_name_the_line_and_the_reason(text, match):
    with pytest.raises(ConfigError, match=match):
        load_yaml(text, "c.yaml")


def test_the_error_class_is_the_callers():
    with pytest.raises(RunError, match=r"^Run file 'x' is refused"):
        load_yaml("a: 1\na: 2\n", "Run file 'x'", RunError)
