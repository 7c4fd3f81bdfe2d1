"""The split: objects kept whole, stratified by label, refused when too small."""

import pytest

from autoorder.core.errors import DataError
from autoorder.data.split import grouped_split


def test_grouped_split_keeps_objects_whole_and_is_stratified():
    groups, labels = [], []
    for c in "abc":
        for k in range(10):
            for _ in range(3):
                groups.append(f"{c}{k}")
                labels.append(c)
    a = grouped_split(groups, labels, 0.2, 0.2, seed=0)
    assert set(a) == set(groups)
    for split in ("train", "val", "test"):
        assert {g[0] for g, s in a.items() if s == split} == set("abc")
    assert a == grouped_split(groups, labels, 0.2, 0.2, seed=0)
    assert a != grouped_split(groups, labels, 0.2, 0.2, seed=1)


def test_split_refuses_classes_with_too_few_objects():
    groups = ["a0", "a1", "a2", "b0"]
    with pytest.raises(DataError, match=r"class 'b' has 1 object"):
        grouped_split(groups, list("aaab"), 0.2, 0.2, seed=0)

