"""What every generator shares: parameter checks, the plan, the three views, the atomic write.

A generator only knows how to draw the ink of one object's front (a grayscale map, 255 = ink)
from its material. Everything a camera and a sheet of paper add (paper and ink colours, light,
show-through on the back, the upside-down third photo, noise) and everything written to disk
happens here, so all generators produce the same kind of dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

from autoorder.core.config import SplitConfig
from autoorder.core.errors import ConfigError, DataError, describe
from autoorder.core.fileio import WRITE_ERRNOS, write_error
from autoorder.data.split import grouped_split

CALLER = "datasets make"
VIEWS = ("front", "back", "other")  # view i is uploaded as order i + 1 when the user complies
NONCOMPLIANCE = 0.01  # share of objects whose three photos are uploaded in another order
MIN_PER_CLASS = 3  # the grouped split needs an object of every class in train, val and test
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024
PROGRESS_EVERY = 10  # objects between two progress calls
MANIFEST_COLUMNS = ("image", "label", "order", "object_id", "view")

# The five upload orders that are not front, back, other.
_SHUFFLED_ORDERS = ((1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1))

Draw = Callable[[Any, str, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Generator:
    """A registered dataset generator.

    Attributes:
        name: registry name, e.g. ``glyph-views``.
        prefix: first letter of object ids (``g00042``).
        description: one line.
        default_objects: objects written when ``objects`` is not given.
        default_image_size: image side when ``image_size`` is not given.
        alphabet: every class the material offers, in their default order.
        provenance: returns one line naming the real material and its version.
        sources: for a class, the material it can be drawn from (fonts, sample indices).
        draw: ``draw(source, label, image_size, rng)`` -> uint8 ink map, shape (size, size).
        material: returns extra facts for ``dataset.json`` (fonts used, sample counts).
    """

    name: str
    prefix: str
    description: str
    default_objects: int
    default_image_size: int
    alphabet: str
    provenance: Callable[[], str]
    sources: Callable[[str], Sequence[Any]]
    draw: Draw
    material: Callable[[], dict] = field(default=lambda: {})


# ----- parameter checks --------------------------------------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bad(param: str, expected: str, value: object, hint: str = "") -> ConfigError:
    msg = f"The {param!r} parameter of {CALLER} must be {expected}. Got {describe(value)} instead."
    return ConfigError(msg + (f" {hint}" if hint else ""))


def check_classes(gen: Generator, classes: str | None) -> str:
    """The classes to draw: all of ``gen.alphabet`` or a subset given as a string of chars."""
    if classes is None:
        return gen.alphabet
    expected = f"a non-empty string of distinct characters from {gen.alphabet!r}"
    if not isinstance(classes, str) or not classes:
        raise _bad("classes", expected, classes)
    unknown = sorted({c for c in classes if c not in gen.alphabet})
    if unknown:
        raise _bad("classes", expected, classes, f"{gen.name} does not support {''.join(unknown)!r}.")
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise _bad("classes", expected, classes, f"{''.join(repeated)!r} is repeated.")
    return classes


def check_objects(gen: Generator, objects: int | None, n_classes: int) -> int:
    if objects is None:
        objects = gen.default_objects
    least = MIN_PER_CLASS * n_classes
    if not _is_int(objects) or objects < least:
        raise _bad(
            "objects",
            f"an int >= {least}",
            objects,
            f"The search's split (grouped by object, stratified by class) needs at least {MIN_PER_CLASS} objects "
            f"per class, one each for train, val and test: {n_classes} classes need --objects {least} or more "
            "(or fewer classes with --classes).",
        )
    return int(objects)


def check_split(plan: list[tuple[str, Any]]) -> None:
    """The planned objects pass the search's default split (what `autoorder search` would do with them)."""
    defaults = SplitConfig()
    labels = [label for label, _ in plan]
    try:
        grouped_split([f"o{i}" for i in range(len(plan))], labels, defaults.val, defaults.test, defaults.seed)
    except DataError as e:
        raise ConfigError(f"The objects of {CALLER} would not split into train, val and test; nothing was written. {e}") from None


def check_image_size(gen: Generator, image_size: int | None) -> int:
    if image_size is None:
        image_size = gen.default_image_size
    if not _is_int(image_size) or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise _bad("image_size", f"an int in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]", image_size)
    return int(image_size)


def check_seed(seed: int) -> int:
    if not _is_int(seed) or seed < 0:
        raise _bad("seed", "an int >= 0", seed)
    return int(seed)


def check_out(out: str | os.PathLike) -> Path:
    """The target folder: new, or an existing empty folder. Nothing a user has is overwritten."""
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise _bad("out", "a folder path", out)
    target = Path(os.path.abspath(out))
    if target.parent == target:
        raise _bad("out", "a new or empty folder (not the root of a file system)", str(out))
    if target.exists() and not target.is_dir():
        raise _bad(
            "out", "a new or empty folder", str(out),
            "It is a file; nothing was changed. Choose another folder.",
        )
    if target.is_dir() and any(target.iterdir()):
        raise _bad(
            "out", "a new or empty folder", str(out),
            "It is not empty, and datasets make never overwrites or deletes anything; nothing was changed. "
            f"Choose another folder, e.g. {str(Path(out).with_name(Path(out).name + '-2'))!r}.",
        )
    return target


# ----- the plan: which class, which material, which upload order ---------------------------
def plan_objects(gen: Generator, classes: str, objects: int, rng: np.random.Generator) -> list[tuple[str, Any]]:
    """Balanced classes (counts differ by at most one); per class, material without replacement.

    Each class walks through its own shuffled material and starts a fresh shuffle when it runs
    out, so material repeats only when a class has more objects than material (then the
    object's own jitter still differs).
    """
    n = len(classes)
    counts = np.full(n, objects // n)
    counts[rng.permutation(n)[: objects % n]] += 1
    plan: list[tuple[str, Any]] = []
    for label, count in zip(classes, counts):
        pool = list(gen.sources(label))
        picks: list[Any] = []
        while len(picks) < count:
            picks.extend(pool[i] for i in rng.permutation(len(pool)))
        plan.extend((label, source) for source in picks[:count])
    return [plan[i] for i in rng.permutation(len(plan))]


def assign_orders(objects: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Upload order of (front, back, other) per object: (1, 2, 3) but for 1% of objects.

    The count is fixed (1% of the objects, rounded) and the objects are drawn at random, so
    compliance is about 99% for every seed, not only on average.
    """
    shuffled = np.zeros(objects, dtype=bool)
    shuffled[rng.choice(objects, size=int(round(objects * NONCOMPLIANCE)), replace=False)] = True
    picks = rng.integers(len(_SHUFFLED_ORDERS), size=objects)
    return [_SHUFFLED_ORDERS[p] if s else (1, 2, 3) for s, p in zip(shuffled, picks)]


# ----- the three photos of one object ------------------------------------------------------
def _to_l(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(a, dtype=np.uint8))


def _light(size: int, rng: np.random.Generator) -> np.ndarray:
    """Uneven lighting of a photo: a gentle linear gradient across the frame."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    gx, gy = rng.uniform(-0.08, 0.08, size=2)
    return (1.0 + gx * axis[None, :] + gy * axis[:, None])[:, :, None]


def _photo(ink: np.ndarray, paper: np.ndarray, pen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (float, 0..1) on paper, lit and with sensor noise; float RGB in 0..1."""
    size = ink.shape[0]
    cover = ink[:, :, None]
    rgb = (paper + (pen - paper) * cover) * _light(size, rng)
    sigma = rng.uniform(0.008, 0.035)
    return rgb + rng.normal(0.0, sigma, size=rgb.shape).astype(np.float32)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def render_views(front_ink: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The three photos (uint8 RGB arrays) of one object from the ink map of its front.

    - front: as printed or written.
    - back: the sheet turned over and photographed against the light: the ink shows through
      mirrored left to right, lighter, with less contrast and blurred by the paper.
    - other: the sheet upside down and askew, partly cropped or covered (a thumb, a card):
      the least useful photo.
    """
    size = front_ink.shape[0]
    paper = (rng.uniform(0.74, 0.97) + rng.uniform(-0.03, 0.03, size=3)).astype(np.float32)
    pen = (rng.uniform(0.03, 0.35) + rng.uniform(-0.04, 0.04, size=3)).astype(np.float32)
    scale = size / 32.0  # jitter in pixels grows with the image

    front = _photo(front_ink.astype(np.float32) / 255.0, paper, pen, rng)

    # Back: mirror, a slightly different camera pose, paper diffusion, faint ink.
    back_img = _to_l(front_ink[:, ::-1]).rotate(
        float(rng.uniform(-3, 3)),
        resample=Image.Resampling.BILINEAR,
        translate=tuple(float(t) for t in rng.uniform(-1.0, 1.0, size=2) * scale),
    )
    back_img = back_img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.1) * scale)))
    show_through = np.float32(rng.uniform(0.22, 0.42))
    back_paper = paper * np.float32(rng.uniform(0.95, 1.03))
    back = _photo(np.asarray(back_img, dtype=np.float32) / 255.0 * show_through, back_paper, pen, rng)

    # Other: upside down (180 degrees) and askew, then cropped or partly covered.
    other_img = _to_l(front_ink[::-1, ::-1]).rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BICUBIC)
    hidden = rng.uniform(0.20, 0.35)  # share of the frame lost to the crop or the block
    crop = rng.random() < 0.5
    if crop:
        side = int(round(size * np.sqrt(1.0 - hidden)))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        other_img = other_img.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BILINEAR)
    other = _photo(np.asarray(other_img, dtype=np.float32) / 255.0, paper, pen, rng)
    if not crop:
        aspect = rng.uniform(0.5, 2.0)
        area = hidden * size * size
        h = int(min(size, max(1, round(np.sqrt(area / aspect)))))
        w = int(min(size, max(1, round(area / h))))
        # A thumb or a card comes in from one edge of the frame.
        y0 = int(rng.integers(0, size - h + 1))
        x0 = int(rng.integers(0, size - w + 1))
        edge = int(rng.integers(4))
        if edge == 0:
            x0 = 0
        elif edge == 1:
            x0 = size - w
        elif edge == 2:
            y0 = 0
        else:
            y0 = size - h
        block = rng.uniform(0.15, 0.85) + rng.uniform(-0.08, 0.08, size=3)
        other[y0 : y0 + h, x0 : x0 + w] = block + rng.normal(0.0, 0.02, size=(h, w, 3))

    return {"front": _to_uint8(front), "back": _to_uint8(back), "other": _to_uint8(other)}


# ----- seeds ------------------------------------------------------------------------------
def name_salt(name: str) -> int:
    """A fixed 32-bit number per dataset name (the first bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def seed_sequence(name: str, seed: int) -> np.random.SeedSequence:
    """The root of every random draw of dataset `name` with `seed`, salted by the name.

    Two datasets made with the same --seed (glyph-caps, the pretraining source, and glyph-views)
    then share no draws: object i of one does not get the paper, light, noise, tilt or occluder
    of object i of the other. The same name and seed always give the same sequence."""
    return np.random.SeedSequence([seed, name_salt(name)])


# ----- writing -----------------------------------------------------------------------------
def _staging_folder(target: Path) -> Path:
    """A new hidden sibling of the target (same file system, so the final rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.parent / f".{target.name}.tmp-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def _publish(tmp: Path, target: Path, shown: str) -> None:
    if target.exists():
        try:
            target.rmdir()  # only ever an empty folder: rmdir refuses anything else
        except OSError:
            raise _bad(
                "out", "a new or empty folder", shown,
                "Something was written into it while the dataset was generated; nothing was changed there. "
                "Choose another folder.",
            ) from None
    os.replace(tmp, target)


def write_dataset(
    gen: Generator,
    out: str | os.PathLike,
    *,
    seed: int,
    objects: int | None,
    image_size: int | None,
    classes: str | None,
    progress: Callable[[int, int], None] | None,
    version: str,
) -> Path:
    """Check the parameters, draw every object, write images, manifest and dataset.json."""
    seed = check_seed(seed)
    classes = check_classes(gen, classes)
    objects = check_objects(gen, objects, len(classes))
    image_size = check_image_size(gen, image_size)
    target = check_out(out)

    plan_seq, object_seq = seed_sequence(gen.name, seed).spawn(2)
    plan_rng = np.random.default_rng(plan_seq)
    plan = plan_objects(gen, classes, objects, plan_rng)
    check_split(plan)
    orders = assign_orders(objects, plan_rng)
    width = max(5, len(str(objects - 1)))

    try:
        tmp = _staging_folder(target)
    except OSError as e:  # a read-only or full disk, a file in the way: one message naming the folder
        raise write_error(target, e, folder=target.parent, head=f"Cannot create the dataset folder {str(target)!r}") from None
    try:
        (tmp / "images").mkdir()
        rows: list[tuple[str, str, int, str, str]] = []
        if progress is not None:
            progress(0, objects)
        for i, ((label, source), order, child) in enumerate(zip(plan, orders, object_seq.spawn(objects))):
            rng = np.random.default_rng(child)
            ink = gen.draw(source, label, image_size, rng)
            views = render_views(ink, rng)
            object_id = f"{gen.prefix}{i:0{width}d}"
            for view, position in sorted(zip(VIEWS, order), key=lambda vo: vo[1]):
                image = f"images/{object_id}_{view}.png"
                Image.fromarray(views[view]).save(tmp / image, format="PNG")
                rows.append((image, label, position, object_id, view))
            done = i + 1
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == objects):
                progress(done, objects)

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
        (tmp / "manifest.csv").write_bytes(buf.getvalue().encode("utf-8"))

        compliant = sum(o == (1, 2, 3) for o in orders)
        info = {
            "name": gen.name,
            "seed": seed,
            "seed_salt": name_salt(gen.name),  # every draw comes from (seed, seed_salt): see seed_sequence
            "objects": objects,
            "image_size": image_size,
            "classes": list(classes),
            "compliance": compliant / objects,
            "compliant_objects": compliant,
            "views": {view: i + 1 for i, view in enumerate(VIEWS)},
            "provenance": gen.provenance(),
            "material": gen.material(),
            "autoorder_version": version,
        }
        (tmp / "dataset.json").write_bytes((json.dumps(info, indent=2) + "\n").encode("utf-8"))
        _publish(tmp, target, str(out))
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)  # our own staging folder, never the user's
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:
            raise write_error(target, e, folder=target.parent, head=f"Cannot write the dataset {str(target)!r}") from None
        raise
    return Path(out) / "manifest.csv"
