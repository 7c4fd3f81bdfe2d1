"""`glyph-views`: printed letters and digits in the TrueType fonts bundled with matplotlib.

Order is informative here: the back shows the glyph mirrored (a 'b' looks like a 'd') and the
third photo shows it upside down (an 'n' looks like a 'u', a '6' like a '9'); knowing which
photo is which tells them apart.
"""

from __future__ import annotations

import functools
import re
import string
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from autoorder.core.errors import ConfigError
from autoorder.data.generators.common import Generator

ALPHABET = string.ascii_lowercase + string.digits
_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Symbol, math-extension, display-size and fallback fonts map a-z0-9 to other symbols or to
# nothing; the render check below would catch most of them, the names make the intent plain.
_NOT_TEXT = re.compile(r"^(cmex|cmsy|STIXSiz|STIXNonUni|LastResort)|Display", re.IGNORECASE)


def _font_folder() -> Path:
    import matplotlib  # only here: importing it costs a tenth of a second

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _glyph_names_ok(path: Path) -> bool:
    """Each of a-z0-9 maps to the glyph of that name (not to an arrow, nor to an old-style digit)."""
    try:
        from matplotlib.ft2font import FT2Font  # only here: importing matplotlib is slow

        font = FT2Font(str(path))
        for ch in ALPHABET:
            index = font.get_char_index(ord(ch))
            expected = _DIGIT_NAMES[int(ch)] if ch.isdigit() else ch
            if not index or font.get_glyph_name(index) != expected:
                return False
    except (ImportError, AttributeError):  # pragma: no cover - an older matplotlib: rely on rendering
        return True
    return True


def _renders_distinct(path: Path) -> bool:
    """Every character renders a non-empty bitmap and no two are the same."""
    font = ImageFont.truetype(str(path), 24)
    seen = set()
    for ch in ALPHABET:
        img = Image.new("L", (48, 48), 0)
        ImageDraw.Draw(img).text((24, 24), ch, fill=255, font=font, anchor="mm")
        bitmap = img.tobytes()
        if not any(bitmap) or bitmap in seen:
            return False
        seen.add(bitmap)
    return True


@functools.lru_cache(maxsize=None)
def fonts() -> tuple[Path, ...]:
    """The bundled fonts that really render a-z0-9 as distinct glyphs, sorted by file name."""
    folder = _font_folder()
    found = tuple(
        p
        for p in sorted(folder.glob("*.ttf"), key=lambda p: p.name)
        if not _NOT_TEXT.search(p.name) and _glyph_names_ok(p) and _renders_distinct(p)
    )
    if not found:
        raise ConfigError(
            f"glyph-views needs the TrueType fonts bundled with matplotlib. Found none that render "
            f"a-z0-9 in {str(folder)!r}; reinstall matplotlib."
        )
    return found


@functools.lru_cache(maxsize=4096)
def _font(path: Path, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), px)


def provenance() -> str:
    # matplotlib's BaKoMa Computer Modern fonts are named after their files (cmr10, ...).
    modern = sorted(p.stem for p in fonts() if p.stem.startswith("cm"))
    families = sorted({_font(p, 12).getname()[0] for p in fonts() if p.stem not in modern})
    if modern:
        families.append(f"Computer Modern ({', '.join(modern)})")
    return f"fonts bundled with matplotlib {metadata.version('matplotlib')}: " + ", ".join(families)


def material() -> dict:
    return {"fonts": [p.name for p in fonts()]}


def draw(font_path: Path, label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Ink of one printed character: size, position, weight and a small tilt vary."""
    canvas = 2 * size if size <= 256 else size  # draw large, shrink: smoother edges at 16-32 px
    scale = rng.uniform(0.75, 1.1)
    font = _font(font_path, max(6, int(round(0.66 * canvas * scale))))
    stroke = int(round(canvas / 48)) if rng.random() < 1 / 3 else 0  # a bolder pen now and then
    offset = rng.uniform(-0.08, 0.08, size=2) * canvas
    angle = float(rng.uniform(-10, 10))

    img = Image.new("L", (canvas, canvas), 0)
    pen = ImageDraw.Draw(img)
    # Centre the ink itself (not the em box), so that a mirrored 'b' falls where a 'd' would.
    x0, y0, x1, y1 = pen.textbbox((0, 0), label, font=font, anchor="ls", stroke_width=stroke)
    xy = (canvas / 2 + offset[0] - (x0 + x1) / 2, canvas / 2 + offset[1] - (y0 + y1) / 2)
    pen.text(xy, label, fill=255, font=font, anchor="ls", stroke_width=stroke)
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC)
    if canvas != size:
        img = img.resize((size, size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)


GENERATOR = Generator(
    name="glyph-views",
    prefix="g",
    description="Printed letters a-z and digits 0-9 photographed front, back (mirrored, seen through) and upside down.",
    default_objects=360,
    default_image_size=32,
    alphabet=ALPHABET,
    provenance=provenance,
    sources=lambda label: fonts(),
    draw=draw,
    material=material,
)

# A disjoint source task from the same material: capitals. autoorder pretrains a backbone on it
# and transfers it (through the keras_file backbone) to glyph-views, the way ImageNet weights
# are used on a connected machine.
CAPS_GENERATOR = Generator(
    name="glyph-caps",
    prefix="c",
    description="Printed capitals A-Z, same views and fonts: a disjoint source task for offline pretraining.",
    default_objects=520,
    default_image_size=32,
    alphabet=string.ascii_uppercase,
    provenance=provenance,
    sources=lambda label: fonts(),
    draw=draw,
    material=material,
)
