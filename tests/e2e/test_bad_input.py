"""Bad and hostile input through the CLI: one clear message, a non-zero exit, no traceback.

Each case starts from a valid data folder and config, breaks one thing, and runs
`autoorder validate` (config, plugins, every manifest row and image; no training).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from autoorder.cli import main

HEADER = "image,label,order,object_id"


def make_valid(root: Path) -> Path:
    """2 classes x 4 objects x 3 views, 16 px; returns the config path."""
    data = root / "data"
    lines = [HEADER]
    for ci, c in enumerate("ab"):
        for k in range(4):
            for order in (1, 2, 3):
                rel = f"img/{c}{k}_{order}.png"
                p = data / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                pixels = np.full((16, 16, 3), 60 + 100 * ci + order, np.uint8)
                pixels[0, 0] = k  # each object's photos are its own files (the same file twice is a duplicate)
                Image.fromarray(pixels).save(p)
                lines.append(f"{rel},{c},{order},{c}{k}")
    (data / "manifest.csv").write_text("\n".join(lines) + "\n")
    cfg = root / "c.yaml"
    cfg.write_text(textwrap.dedent("""
        data:
          manifest: data/manifest.csv
          image_size: 16
        space:
          backbones: tiny_cnn
          weights: null                # the default is imagenet, which tiny_cnn has not
          order_encodings: [none, onehot]
        plugins:
          paths: []
          entry_points: false
    """))
    return cfg


def set_row(root: Path, line: int, text: str) -> None:
    m = root / "data" / "manifest.csv"
    rows = m.read_text().splitlines()
    rows[line - 1] = text
    m.write_text("\n".join(rows) + "\n")


def manifest(root: Path) -> Path:
    return root / "data" / "manifest.csv"


def img(root: Path, rel: str = "img/a0_1.png") -> Path:
    return root / "data" / rel


def replace_config(root: Path, text: str) -> None:
    (root / "c.yaml").write_text(textwrap.dedent(text))


def truncate(p: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p)
    p.write_bytes(p.read_bytes()[:200])


def symlink_out(root: Path) -> None:
    outside = root / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    img(root).unlink()
    os.symlink(outside, img(root))


def bomb(root: Path) -> None:
    Image.new("L", (9000, 9000)).save(img(root))


# (id, breaker(root), extra CLI args, regex the message must match)
CASES = [
    ("manifest-missing", lambda r: manifest(r).unlink(), [], r"manifest.csv' does not exist"),
    ("manifest-empty", lambda r: manifest(r).write_text(""), [], r"is empty"),
    ("manifest-header-only", lambda r: manifest(r).write_text(HEADER + "\n"), [], r"header but no rows"),
    ("manifest-is-folder", lambda r: (manifest(r).unlink(), manifest(r).mkdir()), [], r"is a folder"),
    ("column-missing", lambda r: set_row(r, 1, "image,lbl,order,object_id"), [], r"no column 'label'.*Did you mean 'lbl'"),
    ("column-duplicate", lambda r: set_row(r, 1, "image,label,label,object_id"), [], r"appear more than once"),
    ("not-utf8", lambda r: manifest(r).write_bytes(manifest(r).read_bytes() + b"img/x.png,\xff\xfe,1,zz\n"), [], r"not UTF-8.*line 26"),
    ("ragged-row", lambda r: set_row(r, 3, "img/a0_2.png,a,2"), [], r"line 3: 3 fields, expected 4"),
    ("empty-label", lambda r: set_row(r, 2, "img/a0_1.png,,1,a0"), [], r"line 2: the label.*empty"),
    ("empty-object-id", lambda r: set_row(r, 2, "img/a0_1.png,a,1,"), [], r"line 2: the object id.*empty"),
    ("order-empty", lambda r: set_row(r, 2, "img/a0_1.png,a,,a0"), [], r"line 2, column 'order'.*Got ''"),
    ("order-nan", lambda r: set_row(r, 2, "img/a0_1.png,a,nan,a0"), [], r"line 2.*order.*Got 'nan'"),
    ("order-negative", lambda r: set_row(r, 2, "img/a0_1.png,a,-2,a0"), [], r"line 2.*order.*Got '-2'"),
    ("order-fractional", lambda r: set_row(r, 2, "img/a0_1.png,a,1.5,a0"), [], r"line 2.*order.*Got '1.5'"),
    ("order-huge", lambda r: set_row(r, 2, "img/a0_1.png,a,123456789,a0"), [], r"line 2.*order.*Got '123456789'"),
    ("object-two-labels", lambda r: set_row(r, 3, "img/a0_2.png,b,2,a0"), [], r"line 3: object 'a0' has label 'b'.*line 2"),
    ("class-one-object", lambda r: set_row(r, 2, "img/a0_1.png,c,1,c9"), [], r"class 'c' has 1 object"),
    ("single-class", lambda r: manifest(r).write_text("\n".join(l.replace(",b,", ",a,") for l in manifest(r).read_text().splitlines()) + "\n"), [], r"single class \['a'\]"),
    ("class-two-objects", lambda r: manifest(r).write_text("\n".join(manifest(r).read_text().splitlines()[:7] + manifest(r).read_text().splitlines()[13:]) + "\n"), [], r"class 'a' has 2 object"),
    ("too-few-objects-for-split", lambda r: None, ["--set", "data.split.val=0.4", "--set", "data.split.test=0.4"], r"too few for a stratified"),
    ("path-dotdot", lambda r: set_row(r, 2, "../outside.png,a,1,a0"), [], r"line 2.*leads outside"),
    ("path-absolute", lambda r: set_row(r, 2, "/etc/hostname,a,1,a0"), [], r"line 2.*absolute"),
    ("path-symlink-out", symlink_out, [], r"line 2.*leads outside"),
    ("image-missing", lambda r: img(r).unlink(), [], r"line 2: img/a0_1.png: file not found"),
    ("image-is-folder", lambda r: (img(r).unlink(), img(r).mkdir()), [], r"line 2.*is a folder"),
    ("image-zero-bytes", lambda r: img(r).write_bytes(b""), [], r"line 2.*empty file \(0 bytes\)"),
    ("image-truncated", lambda r: truncate(img(r)), [], r"line 2.*cannot be decoded"),
    ("image-not-an-image", lambda r: img(r).write_text("hello"), [], r"line 2.*not an image"),
    ("image-unsupported-format", lambda r: Image.new("RGB", (16, 16)).save(img(r), format="ICO"), [], r"line 2.*unsupported format ICO"),
    ("image-decompression-bomb", bomb, [], r"line 2.*exceeds data.max_image_pixels"),
    ("config-missing", lambda r: (r / "c.yaml").unlink(), [], r"c.yaml' does not exist"),
    ("config-python-tag", lambda r: replace_config(r, "data: !!python/object/apply:os.system ['true']\n"), [], r"not valid YAML.*safe_load"),
    ("config-bad-yaml", lambda r: replace_config(r, "data: {manifest: [\n"), [], r"not valid YAML at line"),
    ("config-unknown-key", lambda r: replace_config(r, "data: {manifest: data/manifest.csv}\ntunr: {}\n"), [], r"Unknown key 'tunr'.*Did you mean 'tuner'"),
    ("config-typo-nested", lambda r: replace_config(r, "data: {manifest: data/manifest.csv, imagesize: 16}\n"), [], r"'data.imagesize'.*Did you mean 'image_size'"),
    ("config-wrong-type", lambda r: None, ["--set", "tuner.max_trials=ten"], r"'tuner.max_trials' key.*an int >= 1. Got 'ten'"),
    ("config-out-of-range", lambda r: None, ["--set", "space.head_depth=[0, 7]"], r"'space.head_depth'.*\[0, 3\]"),
    ("config-split-too-big", lambda r: None, ["--set", "data.split.val=0.45", "--set", "data.split.test=0.45"], r"add up to less than 0.9"),
    ("config-bad-set-syntax", lambda r: None, ["--set", "tuner.max_trials"], r"KEY=VALUE"),
    ("unknown-backbone", lambda r: None, ["--set", "space.backbones=[tiny_cn]"], r"'tiny_cn'.*not a registered backbone.*Did you mean 'tiny_cnn'"),
    ("unknown-encoding", lambda r: None, ["--set", "space.order_encodings=[flim]"], r"'flim'.*not a registered encoding.*Did you mean 'film'"),
    ("unknown-freeze-point", lambda r: None, ["--set", "space.freeze=[block9_pool]"], r"'block9_pool'.*not a freeze point"),
    ("order-encoding-without-order", lambda r: None, ["--set", "data.columns.order=null"], r"data.columns.order is null"),
    ("weights-missing-file", lambda r: None, ["--set", "space.weights=nope.weights.h5"], r"nope.weights.h5"),
    ("weights-imagenet-for-tiny", lambda r: None, ["--set", "space.weights=imagenet"], r"tiny_cnn.*no ImageNet weights"),
    ("plugin-import-error", lambda r: ((r / "plug").mkdir(), (r / "plug" / "bad.py").write_text("x = 1\nraise RuntimeError('boom')\n")), ["--set", "plugins.paths=[plug]"], r"bad.py, line 2 fails to import: RuntimeError: boom"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_message(tmp_path, case):
    _, breaker, extra, match = case
    cfg = make_valid(tmp_path)
    breaker(tmp_path)
    r = CliRunner().invoke(main, ["validate", str(cfg), *extra])
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    assert r.output.count("\nError: ") + r.output.startswith("Error: ") == 1, r.output  # one message; progress lines may precede it
    import re

    assert re.search(match, r.output, re.S), r.output


def test_the_valid_base_passes(tmp_path):
    cfg = make_valid(tmp_path)
    r = CliRunner().invoke(main, ["validate", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "OK: 24 images, 8 objects, 2 classes" in r.output


def test_bad_images_can_be_skipped_with_a_count(tmp_path):
    cfg = make_valid(tmp_path)
    img(tmp_path).write_bytes(b"")
    img(tmp_path, "img/b1_2.png").write_text("nope")
    r = CliRunner().invoke(main, ["validate", str(cfg), "--set", "data.on_bad_image=skip"])
    assert r.exit_code == 0, r.output
    assert "skipped 2 bad row(s)" in r.output


def test_odd_modes_are_converted_and_counted(tmp_path):
    cfg = make_valid(tmp_path)
    Image.new("L", (16, 16), 90).save(img(tmp_path, "img/a0_1.png"))
    Image.new("RGBA", (16, 16), (1, 2, 3, 100)).save(img(tmp_path, "img/a0_2.png"))
    Image.new("RGB", (16, 16)).convert("P").save(img(tmp_path, "img/a0_3.png"))
    Image.fromarray(np.full((16, 16), 30000, np.uint16)).save(img(tmp_path, "img/a1_1.png"))
    Image.new("CMYK", (16, 16)).save(img(tmp_path, "img/a1_2.jpg"))
    set_row(tmp_path, 6, "img/a1_2.jpg,a,2,a1")
    r = CliRunner().invoke(main, ["validate", str(cfg)])
    assert r.exit_code == 0, r.output
    for mode in ("'L': 1", "'RGBA': 1", "'P': 1", "'CMYK': 1"):
        assert mode in r.output
    assert "'I;16'" in r.output


def test_bad_input_leaves_user_files_untouched(tmp_path):
    cfg = make_valid(tmp_path)
    set_row(tmp_path, 2, "img/a0_1.png,a,-1,a0")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    r = CliRunner().invoke(main, ["search", str(cfg), "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and "order must be an int" in r.output
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "run" not in p.parts}
    assert after == before
