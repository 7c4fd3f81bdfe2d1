"""`autoorder demo`: its folder, its data seed, and what it refuses (no training: the benchmark is faked)."""

from __future__ import annotations

import pytest
import yaml

from autoorder.benchmarking import demo as D
from autoorder.core.errors import RunError


@pytest.fixture
def fake_benchmark(monkeypatch):
    calls = []
    monkeypatch.setattr(D, "run_benchmark", lambda cfg, out, **kw: calls.append((cfg, out, kw)) or "result")
    monkeypatch.setattr(D, "make_dataset", lambda name, out, **kw: (out.mkdir(parents=True), (out / "manifest.csv").write_text("x")))
    return calls


def test_the_data_seed_names_the_data_and_the_command(tmp_path, fake_benchmark):
    assert D.run_demo(tmp_path / "d", data_seed=3) == "result"
    cfg, out, kw = fake_benchmark[0]
    assert cfg.manifest_path() == (tmp_path / "d" / "data-seed3" / "manifest.csv").resolve()
    assert kw["command"] == f"autoorder demo --out {tmp_path / 'd'} --data-seed 3" and kw["seeds"] == D.DEMO_SEEDS
    saved = yaml.safe_load((tmp_path / "d" / "config.yaml").read_text())
    assert saved["tuner"]["epochs"] == 60 and saved["tuner"]["patience"] == 10
    D.run_demo(tmp_path / "d", data_seed=3)  # the same demo again: resumed
    assert len(fake_benchmark) == 2


def test_another_seed_or_a_foreign_folder_is_refused_untouched(tmp_path, fake_benchmark):
    D.run_demo(tmp_path / "d")
    before = (tmp_path / "d" / "config.yaml").read_text()
    with pytest.raises(RunError, match="another configuration"):
        D.run_demo(tmp_path / "d", data_seed=1)
    assert (tmp_path / "d" / "config.yaml").read_text() == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(RunError, match="not an autoorder demo folder"):
        D.run_demo(tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
