"""Decoding photos: header checks first, EXIF orientation applied, explicit RGB, resized.

Only regular files are opened (a FIFO would block a decoding thread forever), every failure
becomes a `BadImage` with its reason (never an exception that escapes the thread), and each
decoded file's content digest is kept for the duplicate and leakage checks.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from autoorder.core.fileio import special_kind

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")


class BadImage(Exception):
    """An image that cannot be used; the message says why."""


@dataclass
class LoadReport:
    """What loading did: conversions by original mode, and the rows that failed."""

    conversions: dict[str, int] = field(default_factory=dict)
    exif_rotated: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (index, reason)
    digests: dict[int, str] = field(default_factory=dict)  # index -> sha256 of the file's bytes
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, mode: str | None = None, rotated: bool = False) -> None:
        with self._lock:
            if mode is not None:
                self.conversions[mode] = self.conversions.get(mode, 0) + 1
            if rotated:
                self.exif_rotated += 1


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr8 = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        if im.mode == "RGB":
            return im
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _resized(rgb: Image.Image, size: int) -> np.ndarray:
    return np.asarray(rgb.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, h, w, 3) RGB pixels resized to (n, size, size, 3) exactly as decoded files are."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise BadImage(f"images must be an array of shape (n, height, width, 3). Got shape {images.shape} instead")
    if images.shape[1:3] == (size, size):
        return images.astype(np.uint8, copy=False)
    return np.stack([_resized(Image.fromarray(np.asarray(im, dtype=np.uint8), "RGB"), size) for im in images])


def _open_regular(path: Path) -> Any:
    """The file opened for reading, if it is a non-empty regular file; else BadImage."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise BadImage("file not found") from None
    except ValueError:
        raise BadImage("the path holds a NUL byte") from None
    except OSError as e:
        raise BadImage(f"cannot be opened ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        mode, nbytes = st.st_mode, st.st_size
    except OSError as e:
        os.close(fd)
        raise BadImage(f"cannot be read ({e.strerror or e})") from None
    problem = (
        "is a folder, expected an image file" if stat.S_ISDIR(mode)
        else f"is {special_kind(mode)}, not a regular file" if special_kind(mode)
        else "empty file (0 bytes)" if nbytes == 0
        else None
    )
    if problem:
        os.close(fd)
        raise BadImage(problem)
    return os.fdopen(fd, "rb")


def _digest(f: Any) -> str:
    f.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def file_digest(path: Path) -> str | None:
    """The sha256 of a regular file's bytes; None when it cannot be read."""
    try:
        with _open_regular(Path(path)) as f:
            return _digest(f)
    except (BadImage, OSError):
        return None


def load_image(path: Path, size: int, max_pixels: int, report: LoadReport | None = None) -> np.ndarray:
    """One image as uint8 (size, size, 3). Raises BadImage with the reason."""
    return decode_file(path, size, max_pixels, report)[0]


def decode_file(path: Path, size: int, max_pixels: int, report: LoadReport | None = None) -> tuple[np.ndarray, str]:
    """One image as uint8 (size, size, 3), and the sha256 of its file. Raises BadImage with the reason."""
    try:
        with _open_regular(Path(path)) as f, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                fmt = im.format
                if fmt not in SUPPORTED_FORMATS:
                    raise BadImage(f"unsupported format {fmt}; expected one of {list(SUPPORTED_FORMATS)}")
                w, h = im.size
                if w * h > max_pixels:  # from the header, before decoding
                    raise BadImage(
                        f"{w}x{h} = {w * h} pixels exceeds data.max_image_pixels={max_pixels} (decompression bomb?)"
                    )
                im.load()
                orientation = im.getexif().get(0x0112, 1)
                if orientation not in (1, None):
                    im = ImageOps.exif_transpose(im)
                    if report is not None:
                        report.count(rotated=True)
                mode = im.mode
                rgb = _to_rgb(im)
                if report is not None and mode != "RGB":
                    report.count(mode)
                pixels = _resized(rgb, size)
            return pixels, _digest(f)
    except BadImage:
        raise
    except MemoryError:
        raise BadImage("does not fit in memory to be decoded") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImage(f"refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise BadImage("not an image Pillow can identify") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"cannot be decoded ({e})") from None


def default_workers() -> int:
    """Decoding threads: Pillow releases the GIL while it decodes and resizes, so a few per core."""
    return max(4, min(16, 2 * (os.cpu_count() or 1)))


CHUNK = 64  # rows per decoding task: few futures for 100,000 rows, and a progress call per chunk


def decode_into(
    paths: Sequence[Path],
    size: int,
    max_pixels: int,
    out: Any,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> LoadReport:
    """Decode many images in threads into `out[i]` (an (n, size, size, 3) uint8 array, a memory map,
    or anything that takes `out[i] = pixels`). Bad rows are left as they are and listed in the report.

    Nothing but `out` grows with the number of images, so decoding into a memory-mapped file keeps
    resident memory flat.
    """
    report = LoadReport()
    n = len(paths)

    def one(i: int) -> None:
        try:
            out[i], digest = decode_file(paths[i], size, max_pixels, report)
            report.digests[i] = digest
        except BadImage as e:
            with report._lock:
                report.bad.append((i, str(e)))
        except Exception as e:  # noqa: BLE001 - a decoder's own failure: named on its row, never a traceback
            with report._lock:
                report.bad.append((i, f"cannot be decoded ({type(e).__name__}: {e})"))

    def chunk(start: int) -> int:
        for i in range(start, min(start + CHUNK, n)):
            one(i)
        return min(start + CHUNK, n) - start

    done = 0
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for count in pool.map(chunk, range(0, n, CHUNK)):
            done += count
            if progress and (done % (4 * CHUNK) == 0 or done == n):
                progress(done, n)
    report.bad.sort()
    return report


def load_images(
    paths: Sequence[Path],
    size: int,
    max_pixels: int,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, LoadReport]:
    """Decode many images in threads (Pillow releases the GIL while decoding).

    Returns (array of shape (n, size, size, 3) uint8 with zeros for bad rows, report).
    """
    out = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    return out, decode_into(paths, size, max_pixels, out, progress, workers)


def hash_files(paths: Sequence[Path], workers: int | None = None) -> list[str | None]:
    """The sha256 of each regular file (None for one that cannot be read), hashed in threads."""
    if not paths:
        return []
    def chunk(start: int) -> list[str | None]:
        return [file_digest(p) for p in paths[start : start + CHUNK]]

    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        return [d for part in pool.map(chunk, range(0, len(paths), CHUNK)) for d in part]
