import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from autoorder.data import images
from autoorder.data.images import BadImage, LoadReport, file_digest, load_image, load_images


def _rgb(size=(20, 10)):
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[:, : size[0] // 2] = (255, 0, 0)  # left half red
    return Image.fromarray(arr)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1", "LA"])
def test_modes_are_converted_explicitly_and_counted(tmp_path, mode):
    p = tmp_path / f"x.{ 'jpg' if mode == 'CMYK' else 'png'}"
    im = _rgb().convert(mode)
    im.save(p)
    rep = LoadReport()
    out = load_image(p, 8, 10**7, rep)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert rep.conversions == {mode: 1}


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 65535 // 2, np.uint16)
    p = tmp_path / "x.png"
    Image.fromarray(arr).save(p)
    out = load_image(p, 8, 10**7)
    assert 120 <= out.mean() <= 135


def test_transparent_pixels_become_white(tmp_path):
    p = tmp_path / "x.png"
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(p)
    assert load_image(p, 4, 10**7).min() == 255


def test_exif_orientation_is_applied(tmp_path):
    im = _rgb((20, 10))  # wide; red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    p = tmp_path / "x.jpg"
    im.save(p, exif=exif.tobytes(), quality=95)
    rep = LoadReport()
    out = load_image(p, 10, 10**7, rep)
    assert rep.exif_rotated == 1
    # Displayed upright the red half is on top.
    assert out[:3, :, 0].mean() > 200 and out[-3:, :, 0].mean() < 60


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"not an image at all"), "not an image"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: None, "file not found"),
    ],
)
def test_bad_files(tmp_path, make, match):
    p = tmp_path / "x.png"
    make(p)
    with pytest.raises(BadImage, match=match):
        load_image(p, 8, 10**7)


def test_truncated_file(tmp_path):
    p = tmp_path / "x.png"
    _rgb((64, 64)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImage, match="cannot be decoded"):
        load_image(p, 8, 10**7)


def test_decompression_bomb_refused_from_header(tmp_path):
    p = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(p)
    with pytest.raises(BadImage, match="exceeds data.max_image_pixels"):
        load_image(p, 8, 1_000_000)


def test_unsupported_format(tmp_path):
    p = tmp_path / "x.ico"
    _rgb((16, 16)).save(p, format="ICO")
    with pytest.raises(BadImage, match="unsupported format ICO"):
        load_image(p, 8, 10**7)


def test_load_many_collects_bad_rows(tmp_path):
    good = tmp_path / "a.png"
    _rgb().save(good)
    arr, rep = load_images([good, tmp_path / "missing.png", good], 8, 10**7)
    assert arr.shape == (3, 8, 8, 3) and rep.bad == [(1, "file not found")]


def test_only_regular_files_are_opened_and_every_failure_stays_on_its_row(tmp_path):
    good = tmp_path / "good.png"
    _rgb().save(good)
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "dir.png").mkdir()
    arr, rep = load_images([good, tmp_path / "fifo.png", tmp_path / "dir.png", tmp_path / "a\x00b.png", good], 8, 10**7)
    assert [(i, why) for i, why in rep.bad] == [
        (1, "is a FIFO (named pipe), not a regular file"),
        (2, "is a folder, expected an image file"),
        (3, "the path holds a NUL byte"),
    ]
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    assert rep.digests == {0: digest, 4: digest} and file_digest(good) == digest and file_digest(tmp_path / "fifo.png") is None


def test_a_decoders_unexpected_error_is_a_bad_row_not_a_traceback(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    _rgb().save(good)

    def broken(*a, **k):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(images, "_to_rgb", broken)
    _, rep = load_images([good], 8, 10**7)
    assert rep.bad == [(0, "cannot be decoded (RuntimeError: decoder bug)")]
