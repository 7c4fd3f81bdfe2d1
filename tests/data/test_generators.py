"""Dataset generators: deterministic, three photos per object, honest errors, atomic writes."""

import csv
import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

import autoorder.data.generators.common as common
from autoorder.core.errors import ConfigError
from autoorder.data.generators import list_datasets, make_dataset

NAMES = ["glyph-views", "digits-views"]
SMALL = {"glyph-views": dict(objects=16, classes="bdpq"), "digits-views": dict(objects=30)}


def _rows(manifest):
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _objects(rows):
    objects = defaultdict(list)
    for r in rows:
        objects[r["object_id"]].append(r)
    return objects


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _gray(path):
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes_other_seed_other_images(tmp_path, name):
    a = make_dataset(name, tmp_path / "a", seed=3, image_size=16, **SMALL[name])
    b = make_dataset(name, tmp_path / "b", seed=3, image_size=16, **SMALL[name])
    c = make_dataset(name, tmp_path / "c", seed=4, image_size=16, **SMALL[name])
    assert a == tmp_path / "a" / "manifest.csv"
    files_a, files_b, files_c = _files(a.parent), _files(b.parent), _files(c.parent)
    assert files_a == files_b
    assert len(files_a) == 2 + 3 * SMALL[name]["objects"]  # manifest, dataset.json, images
    images = [k for k in files_a if k.startswith("images/")]
    assert sum(files_a[k] != files_c.get(k) for k in images) > len(images) // 2


@pytest.mark.parametrize("name", NAMES)
def test_three_photos_per_object_one_of_each_view(tmp_path, name):
    manifest = make_dataset(name, tmp_path / "d", image_size=12, **SMALL[name])
    rows = _rows(manifest)
    assert list(rows[0]) == ["image", "label", "order", "object_id", "view"]
    objects = _objects(rows)
    assert len(objects) == SMALL[name]["objects"]
    prefix = name[0]
    for object_id, group in objects.items():
        assert object_id[0] == prefix and object_id[1:].isdigit() and len(object_id) == 6
        assert sorted(int(r["order"]) for r in group) == [1, 2, 3]
        assert sorted(r["view"] for r in group) == ["back", "front", "other"]
        assert len({r["label"] for r in group}) == 1
        assert [int(r["order"]) for r in group] == [1, 2, 3]  # rows listed in upload order
        for r in group:
            assert r["image"] == f"images/{object_id}_{r['view']}.png"
            assert (manifest.parent / r["image"]).is_file()
    # Classes are balanced: counts differ by at most one.
    counts = defaultdict(int)
    for group in objects.values():
        counts[group[0]["label"]] += 1
    assert max(counts.values()) - min(counts.values()) <= 1


def test_about_99_percent_upload_front_back_other(tmp_path):
    manifest = make_dataset("digits-views", tmp_path / "d", objects=2000, image_size=8, seed=1)
    objects = _objects(_rows(manifest))
    compliant = 0
    for group in objects.values():
        order = {r["view"]: int(r["order"]) for r in group}
        compliant += (order["front"], order["back"], order["other"]) == (1, 2, 3)
    fraction = compliant / len(objects)
    assert 0.97 <= fraction < 1.0  # some objects were uploaded in another order
    info = json.loads((manifest.parent / "dataset.json").read_text(encoding="utf-8"))
    assert info["compliance"] == pytest.approx(fraction)
    assert info["objects"] == 2000 and info["seed"] == 1 and info["image_size"] == 8


def test_non_compliant_orders_are_never_the_identity():
    rng = np.random.default_rng(0)
    orders = common.assign_orders(5000, rng)
    shuffled = [o for o in orders if o != (1, 2, 3)]
    assert len(shuffled) == 50
    assert all(sorted(o) == [1, 2, 3] for o in shuffled)
    assert len(set(shuffled)) == 5  # every other permutation occurs


@pytest.mark.parametrize("name", NAMES)
def test_images_are_rgb_pngs_of_the_requested_size(tmp_path, name):
    manifest = make_dataset(name, tmp_path / "d", image_size=20, **SMALL[name])
    for r in _rows(manifest):
        with Image.open(manifest.parent / r["image"]) as img:
            assert img.format == "PNG" and img.mode == "RGB" and img.size == (20, 20)


@pytest.mark.parametrize("name", NAMES)
def test_back_is_the_front_mirrored(tmp_path, name):
    manifest = make_dataset(name, tmp_path / "d", objects=108, image_size=24, seed=2)  # 36 glyph classes x 3
    mirrored, straight = [], []
    for object_id, group in _objects(_rows(manifest)).items():
        view = {r["view"]: _gray(manifest.parent / r["image"]) for r in group}
        front, back = view["front"], view["back"]
        mirrored.append(np.corrcoef(back.ravel(), front[:, ::-1].ravel())[0, 1])
        straight.append(np.corrcoef(back.ravel(), front.ravel())[0, 1])
        # Seen through the sheet: less contrast than the front.
        assert back.std() < front.std()
    assert np.mean(mirrored) > np.mean(straight) + 0.05
    assert np.mean(mirrored) > 0.4


def test_classes_subset(tmp_path):
    manifest = make_dataset("glyph-views", tmp_path / "d", objects=12, image_size=8, classes="bd69")
    assert {r["label"] for r in _rows(manifest)} == set("bd69")
    info = json.loads((manifest.parent / "dataset.json").read_text(encoding="utf-8"))
    assert info["classes"] == ["b", "d", "6", "9"]
    manifest = make_dataset("digits-views", tmp_path / "e", objects=9, image_size=8, classes="169")
    assert {r["label"] for r in _rows(manifest)} == {"1", "6", "9"}


def test_dataset_json_records_how_it_was_made(tmp_path):
    from autoorder import __version__

    manifest = make_dataset("glyph-views", tmp_path / "d", objects=8, image_size=8, classes="nu", seed=5)
    info = json.loads((manifest.parent / "dataset.json").read_text(encoding="utf-8"))
    assert info["name"] == "glyph-views" and info["seed"] == 5 and info["objects"] == 8
    assert info["autoorder_version"] == __version__
    assert info["provenance"].startswith("fonts bundled with matplotlib")
    assert 0.0 <= info["compliance"] <= 1.0
    assert info["material"]["fonts"] and not any("cmsy" in f or "Display" in f for f in info["material"]["fonts"])


def test_fonts_render_letters_and_digits():
    from autoorder.data.generators.glyph_views import fonts

    names = [p.name for p in fonts()]
    assert names == sorted(names) and "DejaVuSans.ttf" in names
    for excluded in ("cmsy10.ttf", "cmex10.ttf", "STIXSizOneSymReg.ttf", "DejaVuSansDisplay.ttf"):
        assert excluded not in names


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("nope", {}, r"'name' parameter of datasets make must be one of 'digits-views', 'glyph-caps', 'glyph-views'. Got 'nope'"),
        (
            "glyph-views",
            {"objects": 7, "classes": "bdpq"},
            r"'objects' parameter .* int >= 12. Got 7 instead.*3 objects per class.*4 classes need --objects 12",
        ),
        ("glyph-views", {"objects": 80}, r"'objects' parameter .* int >= 108. Got 80 instead.*36 classes need --objects 108"),
        ("digits-views", {"objects": 29}, r"'objects' parameter .* int >= 30. Got 29"),
        ("digits-views", {"objects": 30.0}, r"'objects' .* Got 30.0"),
        ("glyph-views", {"image_size": 7}, r"'image_size' parameter .* int in \[8, 1024\]. Got 7 instead"),
        ("glyph-views", {"image_size": 1025}, r"'image_size' .* Got 1025"),
        ("glyph-views", {"classes": "bdX"}, r"'classes' parameter .* Got 'bdX' instead.*does not support 'X'"),
        ("glyph-views", {"classes": ""}, r"'classes' parameter .* Got ''"),
        ("glyph-views", {"classes": "bb"}, r"'classes' .* 'b' is repeated"),
        ("digits-views", {"classes": "1a"}, r"'classes' .* does not support 'a'"),
        ("glyph-views", {"seed": -1}, r"'seed' parameter .* int >= 0. Got -1"),
    ],
)
def test_bad_parameters_raise_config_error(tmp_path, name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_dataset(name, tmp_path / "d", **kwargs)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a staging folder


def test_a_non_empty_out_folder_is_left_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'out' parameter .*mine.*not empty.*never overwrites.*another folder"):
        make_dataset("glyph-views", out, objects=8, image_size=8, classes="bd")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "file"
    out.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'out' .* It is a file"):
        make_dataset("glyph-views", out, objects=8, image_size=8, classes="bd")
    assert out.read_text(encoding="utf-8") == "x"


def test_an_empty_out_folder_is_used_and_parents_are_created(tmp_path):
    (tmp_path / "empty").mkdir()
    manifest = make_dataset("glyph-views", tmp_path / "empty", objects=6, image_size=8, classes="bd")
    assert manifest.is_file()
    manifest = make_dataset("glyph-views", tmp_path / "x" / "y", objects=6, image_size=8, classes="bd")
    assert manifest.is_file()


def test_a_crash_leaves_no_half_dataset(tmp_path, monkeypatch):
    calls = []
    real = common.render_views

    def flaky(ink, rng):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("disk on fire")
        return real(ink, rng)

    monkeypatch.setattr(common, "render_views", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        make_dataset("glyph-views", tmp_path / "d", objects=8, image_size=8, classes="bd")
    assert list(tmp_path.iterdir()) == []  # neither `d` nor a `.d.tmp-*` staging folder


def test_progress_is_reported(tmp_path):
    seen = []
    make_dataset(
        "glyph-views", tmp_path / "d", objects=25, image_size=8, classes="bd", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[0] == (0, 25) and seen[-1] == (25, 25)
    assert all(t == 25 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) >= 3


def test_the_manifest_reads_like_user_data(tmp_path):
    from autoorder.data.manifest import read_manifest

    path = make_dataset("glyph-views", tmp_path / "d", objects=8, image_size=8, classes="69")
    m = read_manifest(path, {"image": "image", "label": "label", "order": "order", "group": "object_id"})
    assert len(m.rows) == 24 and m.labels == ["6", "9"]


def test_list_datasets_describes_both():
    found = {d["name"]: d for d in list_datasets()}
    assert set(found) == {"glyph-views", "glyph-caps", "digits-views"}
    for d in found.values():
        assert set(d) == {"name", "description", "provenance", "default_objects", "default_image_size"}
        assert d["description"] and "\n" not in d["description"]
        assert d["provenance"] and "\n" not in d["provenance"]
        assert d["default_image_size"] == 32
    assert "matplotlib" in found["glyph-views"]["provenance"] and "DejaVu" in found["glyph-views"]["provenance"]
    assert "scikit-learn" in found["digits-views"]["provenance"]
    assert found["glyph-views"]["default_objects"] == 360 and found["digits-views"]["default_objects"] == 600


def test_datasets_never_import_tensorflow(tmp_path):
    code = (
        "import sys; from autoorder.data.generators import list_datasets, make_dataset; list_datasets(); "
        f"make_dataset('digits-views', {str(tmp_path / 'd')!r}, objects=30, image_size=8); "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name, classes", [("glyph-views", "bdpq"), ("digits-views", "169"), ("glyph-caps", "ABC")])
def test_the_fewest_objects_allowed_still_split_for_the_search(tmp_path, name, classes):
    from autoorder.data.split import grouped_split

    manifest = make_dataset(name, tmp_path / "d", objects=3 * len(classes), image_size=8, classes=classes)
    rows = _rows(manifest)
    split = grouped_split([r["object_id"] for r in rows], [r["label"] for r in rows], 0.15, 0.15, 0)
    for part in ("train", "val", "test"):
        assert {r["label"] for r in rows if split[r["object_id"]] == part} == set(classes)


def test_datasets_make_on_the_command_line_says_how_many_objects_are_needed(tmp_path):
    from click.testing import CliRunner

    from autoorder.cli import main

    r = CliRunner().invoke(main, ["datasets", "make", "glyph-views", "--out", str(tmp_path / "d"), "--objects", "80"])
    assert r.exit_code == 1
    assert "needs at least 3 objects per class" in r.output and "--objects 108" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_seeds_are_salted_by_the_dataset_name(tmp_path):
    """glyph-caps (the pretraining source) and glyph-views made with the same --seed share no draws:
    object i of one does not get the paper, light, noise, tilt or occluder of object i of the other."""
    from autoorder.data.generators.common import name_salt, seed_sequence

    assert name_salt("glyph-views") != name_salt("glyph-caps") and name_salt("glyph-views") == name_salt("glyph-views")

    def object_draws(name):
        _, objects = seed_sequence(name, 0).spawn(2)
        return [np.random.default_rng(s).random(4).tolist() for s in objects.spawn(20)]

    views, caps = object_draws("glyph-views"), object_draws("glyph-caps")
    assert views == object_draws("glyph-views")
    assert not {tuple(v) for v in views} & {tuple(c) for c in caps}
    a = make_dataset("glyph-views", tmp_path / "v", seed=0, objects=6, image_size=8, classes="bd")
    b = make_dataset("glyph-caps", tmp_path / "c", seed=0, objects=6, image_size=8, classes="BD")
    paper = [np.asarray(Image.open(m.parent / "images" / f"{p}00000_other.png"))[0, 0] for m, p in ((a, "g"), (b, "c"))]
    assert not np.array_equal(paper[0], paper[1])  # same seed, different nuisance (here: the corner of the other view)
