"""Reading images safely: EXIF orientation, odd colour modes, transparency, clear errors.

Every function opens files through Python file objects (never OpenCV), so paths with spaces and
non-ASCII characters work on every platform. Originals are only ever read.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lora_studio.core.errors import DatasetError

# Formats we accept for training. MPO is what many cameras call a JPEG.
SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "WEBP", "BMP"})
ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # orientations that turn the picture by 90 degrees
Background = tuple[int, int, int]


class ImageReadError(DatasetError):
    """A picture that cannot be used. ``code``: missing, unreadable, empty-file, not-an-image,
    too-large, damaged, colour-conversion."""

    def __init__(self, code: str, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message, hint=hint, details=details)
        self.code = code


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an image file holds, read from its header."""

    path: Path
    width: int  # after EXIF orientation
    height: int
    mode: str  # Pillow mode as stored: RGB, RGBA, CMYK, P, LA, I;16 ...
    format: str  # PNG, JPEG, WEBP ...
    has_alpha: bool
    exif_rotated: bool  # the EXIF orientation tag turns or flips the stored pixels
    bit_depth: int  # bits per channel (16 for 16-bit PNGs)
    file_size: int

    @property
    def is_cmyk(self) -> bool:
        return self.mode == "CMYK"

    @property
    def supported(self) -> bool:
        return self.format in SUPPORTED_FORMATS


def _open(path: Path) -> Image.Image:
    """Open lazily (header only) or raise a DatasetError that says what is wrong."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageReadError(
            "missing", f"The image {path.name} is missing.", hint="It may have been moved or deleted."
        ) from None
    except OSError as exc:
        raise ImageReadError(
            "unreadable", f"The image {path.name} cannot be read: {exc.strerror or exc}."
        ) from exc
    if size == 0:
        raise ImageReadError(
            "empty-file",
            f"The file {path.name} is empty (0 bytes).",
            hint="Copy the picture again from its source, or remove it from the dataset.",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except UnidentifiedImageError:
        raise ImageReadError(
            "not-an-image",
            f"The file {path.name} is not a picture LoRA Studio can read.",
            hint="It may be a different kind of file with an image name, or damaged. Remove it.",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(
            "too-large",
            f"The picture {path.name} is far too large to train on.",
            hint="Resize it to a few thousand pixels per side in an image editor.",
        ) from None
    except OSError as exc:
        raise ImageReadError(
            "unreadable", f"The image {path.name} cannot be read: {exc}.", details=repr(exc)
        ) from exc


def _bit_depth(im: Image.Image) -> int:
    if im.mode == "1":
        return 1
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        return 16 if im.mode.startswith("I;16") else 32
    # 16-bit RGB(A) PNGs are read as 8-bit modes; the raw mode of the tile tells the truth.
    for tile in getattr(im, "tile", None) or ():
        rawmode = tile[3] if isinstance(tile, tuple) else getattr(tile, "args", None)
        if isinstance(rawmode, tuple):
            rawmode = rawmode[0] if rawmode else ""
        if isinstance(rawmode, str) and ";16" in rawmode:
            return 16
    if im.format == "PNG" and im.info.get("bits") == 16:
        return 16
    return 8


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not make the image unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def probe_image(path: str | os.PathLike[str]) -> ImageInfo:
    """Read size (after EXIF orientation), mode, format and alpha from the header, without decoding."""
    path = Path(path)
    with _open(path) as im:
        orientation = _orientation(im)
        w, h = im.size
        if orientation in _SWAPPING_ORIENTATIONS:
            w, h = h, w
        return ImageInfo(
            path=path,
            width=w,
            height=h,
            mode=im.mode,
            format=im.format or "",
            has_alpha=_has_alpha(im),
            exif_rotated=orientation != 1,
            bit_depth=_bit_depth(im),
            file_size=path.stat().st_size,
        )


def _decoded(path: Path, draft: tuple[int, int] | None = None) -> Image.Image:
    """Open and fully decode, with EXIF orientation applied. ``draft``: allow JPEG downscaled decoding."""
    im = _open(path)
    if draft is not None and im.format == "JPEG" and im.mode in ("RGB", "L"):
        im.draft(im.mode, draft)
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        im.close()
        raise ImageReadError(
            "damaged",
            f"The picture {path.name} is damaged and cannot be decoded (it may be cut off).",
            hint="Copy it again from its source, or remove it from the dataset.",
            details=repr(exc),
        ) from exc
    if _orientation(im) != 1:
        im = ImageOps.exif_transpose(im)
    return im


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """16/32-bit greyscale -> 8-bit by scaling (Pillow's convert would clip everything above 255)."""
    arr = np.asarray(im).astype(np.float64)
    if im.mode == "F":
        peak = 1.0 if arr.max(initial=0.0) <= 1.0 else 65535.0
    else:
        peak = 255.0 if im.mode == "I" and arr.max(initial=0.0) <= 255 else 65535.0
    out = np.clip(arr, 0.0, peak) * (255.0 / peak)
    return Image.fromarray(np.round(out).astype(np.uint8))


def _to_rgba_or_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":
        im = _high_depth_to_l(im)
    if _has_alpha(im):
        return im.convert("RGBA")
    if im.mode == "RGB":
        return im
    # CMYK, P without transparency, L, 1, YCbCr ... Pillow handles Adobe-inverted CMYK JPEGs.
    return im.convert("RGB")


def load_rgb(
    path: str | os.PathLike[str],
    background: Background = (255, 255, 255),
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image as upright 8-bit RGB; transparent areas are composited on ``background``."""
    rgb, alpha = load_rgb_and_alpha(path, draft)
    if alpha is None:
        return rgb
    canvas = Image.new("RGB", rgb.size, background)
    canvas.paste(rgb, mask=alpha)
    return canvas


def load_rgb_and_alpha(
    path: str | os.PathLike[str], draft: tuple[int, int] | None = None
) -> tuple[Image.Image, Image.Image | None]:
    """Decode an image as upright RGB plus its alpha channel as an "L" mask (None when opaque).

    The alpha can serve as a training mask: white = learn, black = ignore. ``draft`` lets JPEGs
    decode at a reduced size of at least that many pixels (for thumbnails and hashes).
    """
    path = Path(path)
    im = _decoded(path, draft)
    try:
        converted = _to_rgba_or_rgb(im)
    except (OSError, ValueError) as exc:
        raise ImageReadError(
            "colour-conversion", f"The colours of {path.name} cannot be converted to RGB.", details=repr(exc)
        ) from exc
    if converted.mode == "RGBA":
        alpha = converted.getchannel("A")
        rgb = converted.convert("RGB")
        if alpha.getextrema() == (255, 255):
            return rgb, None
        return rgb, alpha
    return converted, None


def load_upright(path: str | os.PathLike[str]) -> Image.Image:
    """Decode an image upright as RGB, or RGBA when it has transparency (kept, not composited)."""
    rgb, alpha = load_rgb_and_alpha(path)
    if alpha is None:
        return rgb
    rgba = rgb.convert("RGBA")
    rgba.putalpha(alpha)
    return rgba


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (exact-duplicate detection)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dhash(im: Image.Image, size: int = 8) -> int:
    """Difference hash: ``size*size`` bits comparing neighbouring pixels of a tiny greyscale copy."""
    small = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def perceptual_hash(path: str | os.PathLike[str]) -> int:
    """dHash of the upright image; decodes the file (JPEGs at reduced size for speed)."""
    return dhash(load_rgb(path, draft=(64, 64)))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
