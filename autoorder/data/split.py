"""Train / val / test split: grouped by object (no object in two splits), stratified by label."""

from __future__ import annotations

import math
from collections import Counter

from sklearn.model_selection import train_test_split

from autoorder.core.errors import DataError

SPLITS = ("train", "val", "test")


def grouped_split(
    groups: list[str], labels: list[str], val: float, test: float, seed: int, source: str = "manifest"
) -> dict[str, str]:
    """Assign every object (group) to train, val or test.

    Splits the distinct objects, one label each, with scikit-learn's stratified
    `train_test_split`, so that every class is in every split when it has at least 3 objects.

    Returns:
        {group: "train" | "val" | "test"}.
    """
    label_of: dict[str, str] = {}
    for g, y in zip(groups, labels):
        label_of.setdefault(g, y)
    objs = sorted(label_of)
    ys = [label_of[g] for g in objs]
    counts = Counter(ys)
    small = sorted((c, n) for c, n in counts.items() if n < 3)
    if small:
        c, n = small[0]
        raise DataError(
            f"{source}: class {c!r} has {n} object(s). Expected at least 3 objects per class "
            f"(one each for train, val and test){'; ' + str(len(small)) + ' classes are short' if len(small) > 1 else ''}."
        )
    n_classes = len(counts)
    n = len(objs)
    n_test = max(n_classes, math.ceil(test * n))
    n_val = max(n_classes, math.ceil(val * n))
    if n - n_test - n_val < n_classes:
        raise DataError(
            f"{source}: {n} objects in {n_classes} classes are too few for a stratified train/val/test split "
            f"(val={val}, test={test}). Expected at least {3 * n_classes} objects."
        )
    rest, test_objs, rest_y, _ = train_test_split(objs, ys, test_size=n_test, stratify=ys, random_state=seed)
    train_objs, val_objs = train_test_split(rest, test_size=n_val, stratify=rest_y, random_state=seed + 1)
    assignment = {g: "train" for g in train_objs}
    assignment.update({g: "val" for g in val_objs})
    assignment.update({g: "test" for g in test_objs})
    missing = sorted(set(counts) - {label_of[g] for g in train_objs})
    if missing:
        raise DataError(f"{source}: the split leaves class(es) {missing} out of train. Add objects of those classes.")
    return assignment
