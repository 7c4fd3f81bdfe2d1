"""Messages: a received value is shown short, and built short."""

from __future__ import annotations

import time

from autoorder.core.errors import describe, did_you_mean


def test_describe_is_the_repr_of_short_values():
    assert describe("ten") == "'ten'" and describe(99999999999) == "99999999999" and describe([1, "a", None]) == "[1, 'a', None]"


def test_describe_never_builds_the_whole_repr_of_a_huge_value():
    shared = ["x"] * 9
    for _ in range(30):  # 9**31 leaves, as nested YAML aliases would give
        shared = [shared] * 9
    started = time.monotonic()
    text = describe(shared)
    assert len(text) <= 80 and time.monotonic() - started < 0.5
    assert len(describe("x" * 10**8)) <= 80


def test_did_you_mean_ignores_what_is_not_a_short_string():
    assert did_you_mean("tunr", ["tuner"]) == " Did you mean 'tuner'?"
    assert did_you_mean(["tunr"], ["tuner"]) == "" and did_you_mean("x" * 10**6, ["tuner"]) == ""
