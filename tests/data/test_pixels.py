"""Decoded pixels: memory-mapped past a size, decoded once per content, shared, never torn; the fingerprint from files."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from autoorder.core.config import from_dict
from autoorder.core.fileio import exclusive
from autoorder.data import pixels as P
from autoorder.data.dataset import load_dataset
from tests.helpers import simple_dataset, write_image


def _cfg(root, **data):
    return from_dict({"data": {"manifest": str(root / "manifest.csv"), "image_size": 16, **data}}, "c.yaml", root)


@pytest.fixture
def on_disk(monkeypatch):
    """Every set counts as large: its pixels go to the cache folder."""
    monkeypatch.setattr(P, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr("autoorder.data.dataset.IN_MEMORY_BYTES", 0)


def test_small_sets_stay_in_memory_and_large_ones_are_memory_mapped_from_the_cache(tmp_path, monkeypatch):
    root = tmp_path / "data"
    simple_dataset(root)
    small = load_dataset(_cfg(root), cache_dir=tmp_path / "cache")
    assert small.pixels.in_memory and not (tmp_path / "cache").exists()
    monkeypatch.setattr(P, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr("autoorder.data.dataset.IN_MEMORY_BYTES", 0)
    large = load_dataset(_cfg(root), cache_dir=tmp_path / "cache")
    assert isinstance(large.pixels.array, np.memmap) and large.pixels.path.parent == tmp_path / "cache"
    # The same pixels, the same fingerprint, whichever way they are held.
    np.testing.assert_array_equal(large.images[:], small.images[:])
    np.testing.assert_array_equal(large.images[[5, 1, 3]], small.images[[5, 1, 3]])
    assert large.fingerprint() == small.fingerprint()
    assert large.summary().image_size == 16


def test_a_second_load_reads_the_store_and_hashes_nothing(tmp_path, on_disk, monkeypatch):
    root = tmp_path / "data"
    simple_dataset(root)
    first = load_dataset(_cfg(root), cache_dir=tmp_path / "cache")
    calls = []
    monkeypatch.setattr(P, "decode_into", lambda *a, **k: calls.append("decode"))
    monkeypatch.setattr(P, "hash_files", lambda paths: calls.append(len(paths)) or [None] * len(paths))
    again = load_dataset(_cfg(root), cache_dir=tmp_path / "cache")
    assert calls == [0] and again.fingerprint() == first.fingerprint()  # nothing hashed, nothing decoded
    # A changed file (new size or time) is hashed again, and gets new pixels.
    write_image(root / "img/a0_1.png", 16, value=7, mark=99)
    monkeypatch.undo()
    monkeypatch.setattr(P, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr("autoorder.data.dataset.IN_MEMORY_BYTES", 0)
    changed = load_dataset(_cfg(root), cache_dir=tmp_path / "cache")
    assert changed.fingerprint() != first.fingerprint() and int(changed.images[0][5, 5, 0]) == 7
    assert len(list((tmp_path / "cache").glob("pixels-*.npy"))) == 2


def test_bad_rows_are_listed_from_a_store_too(tmp_path, on_disk):
    root = tmp_path / "data"
    simple_dataset(root)
    (root / "img/a1_2.png").write_bytes(b"not an image")
    cfg = _cfg(root, on_bad_image="skip")
    first = load_dataset(cfg, cache_dir=tmp_path / "cache")
    again = load_dataset(cfg, cache_dir=tmp_path / "cache")  # from the store
    assert [ln for ln, _ in again.skipped] == [ln for ln, _ in first.skipped] == [6]
    np.testing.assert_array_equal(again.images[:], first.images[:])
    assert len(again.rows) == len(again.images) == 23
    # Refused rows leave no store behind.
    with pytest.raises(Exception, match="line 6"):
        load_dataset(_cfg(root), cache_dir=tmp_path / "fresh")
    assert not list((tmp_path / "fresh").glob("pixels-*"))


def test_a_decoder_killed_mid_way_leaves_no_store_and_the_next_one_cleans_up(tmp_path, on_disk):
    root = tmp_path / "data"
    simple_dataset(root)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".pixels-dead.npy.abc.npy").write_bytes(b"torn")  # what a kill -9 mid-decode leaves
    data = load_dataset(_cfg(root), cache_dir=cache)
    assert not (cache / ".pixels-dead.npy.abc.npy").exists() and data.pixels.path.exists()
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".json", ".lock", ".npy"]  # index, report, lock, pixels


def test_a_second_process_waits_for_the_decoder_then_reads_its_store(tmp_path, on_disk):
    root = tmp_path / "data"
    simple_dataset(root)
    cache = tmp_path / "cache"
    waited = []
    release = threading.Event()

    def holder():
        with exclusive(cache / P.LOCK):
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.2)
    # flock is per open file: another open of the lock file in this process waits like another process would.
    threading.Timer(0.5, release.set).start()
    load_dataset(_cfg(root), cache_dir=cache, on_wait=lambda: waited.append(1))
    t.join()
    assert waited == [1]


def test_checking_every_row_keeps_no_pixels_and_decodes_on_demand(tmp_path):
    root = tmp_path / "data"
    simple_dataset(root)
    full = load_dataset(_cfg(root))
    lazy = load_dataset(_cfg(root), keep_pixels=False)
    assert isinstance(lazy.pixels, P.LazyPixels)
    np.testing.assert_array_equal(lazy.images[[3, 0]], full.images[[3, 0]])
    assert lazy.fingerprint() == full.fingerprint()


def test_large_sets_without_a_cache_folder_use_a_temporary_file_removed_with_them(tmp_path, on_disk):
    root = tmp_path / "data"
    simple_dataset(root)
    data = load_dataset(_cfg(root))
    path = data.pixels.path
    assert path.exists() and path.name.startswith("autoorder-pixels-")
    del data
    import gc

    gc.collect()
    assert not path.exists()


def test_the_digest_index_hashes_a_file_once_while_it_is_unchanged(tmp_path, monkeypatch):
    a = write_image(tmp_path / "a.png")
    hashed = []
    real = P.hash_files
    monkeypatch.setattr(P, "hash_files", lambda paths: hashed.extend(paths) or real(paths))
    index = P.DigestIndex(tmp_path)
    first = index.digests([a, tmp_path / "missing.png"])
    index.save()
    assert first[1] is None and len(first[0]) == 64 and hashed == [a]
    assert P.DigestIndex(tmp_path).digests([a]) == first[:1] and hashed == [a]
    os.utime(a, ns=(1, 1))  # touched: hashed again
    assert P.DigestIndex(tmp_path).digests([a]) == first[:1] and hashed == [a, a]
    (tmp_path / P.INDEX).write_text("{broken")  # a damaged index is only a cost
    assert P.DigestIndex(tmp_path).digests([a]) == first[:1]
