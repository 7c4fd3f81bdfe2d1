"""The run folder: what blocks a resume and what does not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from autoorder.core.config import from_dict, load_config, resolved_dict
from autoorder.core.errors import RunError
from autoorder.core.fileio import write_json
from autoorder.data.dataset import load_dataset
from autoorder.run import folder
from tests.helpers import small_search_config


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
    for k in ("on_duplicate", "allow_shared_images"):
        del old["data"][k]
    assert config_hash(old) == config_hash(a)



# ----- resume: what changed, and a lost tuner/ folder ----------------------------------------------
def _started_run(tmp_path):
    cfg = load_config(small_search_config(tmp_path))
    out = tmp_path / "run"
    resolved = resolved_dict(cfg)
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is None
    data = load_dataset(cfg)
    folder.write_state(out, resolved, data.fingerprint(), None, data.split_rows())
    return out, resolved


def test_a_refused_resume_names_the_rows_that_changed(tmp_path):
    out, resolved = _started_run(tmp_path)
    state = folder.prepare_run_dir(out, resolved, overwrite=False)
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(tmp_path / "data/img/b1_2.png")
    m = tmp_path / "data/manifest.csv"
    m.write_text(m.read_text().replace("img/c4_1.png,c,1,c4", "img/c4_1.png,c,2,c4") + "img/extra.png,c,1,c9\n")
    assert folder.changed_rows(out, state) == [
        "line 21: 'img/b1_2.png': the image file changed (its content differs from when the run started)",
        "line 44: 'img/c4_1.png': order '1' -> '2'",
        "line 47: 'img/extra.png': a new row",
    ]
    with pytest.raises(RunError, match=r"started on different data; resuming is refused. What changed:\n  line 21: 'img/b1_2.png'"):
        folder.check_same_data(out, state, "another fingerprint")


def test_trials_on_record_without_their_tuner_folder_are_refused(tmp_path):
    out, resolved = _started_run(tmp_path)
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is not None  # started, no trial yet: resumes
    write_json(out / folder.TRIAL_SECONDS, {"0": {"seconds": 1.0, "score": 0.5}})
    with pytest.raises(RunError, match=r"has 1 finished trial\(s\) in trial_seconds.json but no tuner/ folder"):
        folder.prepare_run_dir(out, resolved, overwrite=False)
    (out / folder.TUNER_DIR).mkdir()
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is not None
