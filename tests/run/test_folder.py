"""The run folder: what blocks a resume and what does not."""

from __future__ import annotations

from autoorder.core.config import from_dict


# ----- config and options ------------------------------------------------------------------
def _cfg(**tuner):
    return from_dict({"data": {"manifest": "m.csv"}, "tuner": tuner})


def test_leases_and_distribution_do_not_block_a_resume():
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import config_hash

    a = resolved_dict(_cfg())
    b = resolved_dict(_cfg(distribution="mirrored", lease_seconds=10, chief_timeout=5))
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(resolved_dict(_cfg(epochs=2)))
    old = resolved_dict(_cfg())  # a run.json written before these keys existed
    for k in ("distribution", "lease_seconds", "chief_timeout"):
        del old["tuner"][k]
    assert config_hash(old) == config_hash(a)

