"""Decode one image file safely into a plain 8-bit PIL image (mode "RGB" or "L").

Every failure — zero-byte, truncated, not an image, unreadable, decompression bomb — becomes an
`ImageDecodeError` whose `.reason` is one short line; the caller skips the file and reports it.
Conversions (what the network eventually sees, before `transforms.py`):

- EXIF orientation is applied (`ImageOps.exif_transpose`), so phone photos are upright.
- Palette ("P"), "PA", "RGBA", "LA", "RGBa", "La": alpha is composited on white, result RGB or L.
- 16-bit grey ("I;16*") and 32-bit "I": scaled 0..65535 -> 0..255 as v * 255 / 65535 (rounded);
  "I" data outside 0..65535 and float "F" data are min-max scaled. "1" -> "L".
- "CMYK", "YCbCr", "LAB", "HSV", "RGBX" -> "RGB".
- GIF / multi-frame TIFF / WebP: the first frame only.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ddpm_studio.errors_text import one_line

__all__ = ["ImageDecodeError", "decode_image", "IMAGE_EXTENSIONS", "ALLOWED_FORMATS", "max_image_pixels",
           "MAX_IMAGE_BYTES", "ORIGINAL_MODE_KEY"]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".webp", ".tif", ".tiff"}
)
# Decoders Pillow may use. MPO is how Pillow opens many camera JPEGs (multi-picture JPEG).
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "MPO", "BMP", "DIB", "GIF", "WEBP", "TIFF")
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS (~ 0.25 GiB of RGBA)
MAX_IMAGE_BYTES = 512 * 2**20  # a file (or zip member) larger than this is refused before it is read
ORIGINAL_MODE_KEY = "original_mode"  # decoded image's .info key: the file's own Pillow mode before conversion
# Pillow warns (on stderr) for images between MAX_IMAGE_PIXELS and twice that; _open_checked refuses every
# image over the limit with its own one-line reason, so the warning would only repeat it, out of place.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_GREY_MODES = {"L", "1", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


class ImageDecodeError(Exception):
    """A file that cannot be used as an image; `.reason` is a short one-line explanation."""

    def __init__(self, reason: str, name: str = "") -> None:
        self.reason = reason
        self.name = name
        super().__init__(f"{name}: {reason}" if name else reason)


def max_image_pixels() -> int:
    """The decompression-bomb limit in pixels: Pillow's `Image.MAX_IMAGE_PIXELS` (its default if unset)."""
    limit = Image.MAX_IMAGE_PIXELS
    return int(limit) if limit else DEFAULT_MAX_PIXELS


def decode_image(
    data: bytes | Path | str | BinaryIO, *, name: str = "", min_size: int | None = None
) -> Image.Image:
    """Decode `data` (bytes, a path or a binary file object) into a loaded "RGB" or "L" image.

    `min_size` lets JPEG decoding use DCT scaling (`Image.draft`) when the image is much larger than
    needed: the result keeps both sides >= `min_size`. Raises `ImageDecodeError` for any bad input.
    """
    label = name or (str(data) if isinstance(data, (str, Path)) else "")
    stream = _as_stream(data, label)
    try:
        image = _open_checked(stream, label)
        original_mode = image.mode  # the file's own mode (RGBA, CMYK, I;16, F, ...), reported by summaries
        if min_size is not None and image.format in ("JPEG", "MPO"):
            image.draft(image.mode, (int(min_size), int(min_size)))
        image.load()  # forces the decode: truncation and corruption surface here
        standard = to_standard_mode(_exif_upright(image))
        standard.info[ORIGINAL_MODE_KEY] = original_mode
        return standard
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"decompression bomb refused ({exc})", label) from None
    except MemoryError:
        raise ImageDecodeError("out of memory while decoding", label) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        raise ImageDecodeError(_describe(exc), label) from None


def _as_stream(data: bytes | Path | str | BinaryIO, label: str) -> BinaryIO:
    """Read a path into memory (so no file handle stays open); wrap bytes; pass streams through."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    elif isinstance(data, (str, Path)):
        try:
            payload = _read_capped(Path(data), label)
        except IsADirectoryError:
            raise ImageDecodeError("is a folder, not a file", label) from None
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file ({exc.strerror or exc})", label) from None
    else:
        return data
    if not payload:
        raise ImageDecodeError("empty file (0 bytes)", label)
    return io.BytesIO(payload)


def _read_capped(path: Path, label: str) -> bytes:
    """The bytes of a regular file, once its header is recognised and its size is at most MAX_IMAGE_BYTES.

    A 4 GB file named .png is judged by its first bytes and its size, never read whole; a FIFO or device is
    never read at all (O_NONBLOCK keeps the open from waiting on a FIFO's writer).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb", closefd=True) as f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise ImageDecodeError("is a folder, not a file", label)
        if not stat.S_ISREG(info.st_mode):
            raise ImageDecodeError("not a regular file", label)
        if info.st_size == 0:
            raise ImageDecodeError("empty file (0 bytes)", label)
        prefix = f.read(16)
        if not _recognised(prefix):  # judged by its first bytes: the rest is never read
            raise ImageDecodeError("not an image (unrecognised format)", label)
        if info.st_size > MAX_IMAGE_BYTES:
            raise ImageDecodeError(f"file too large ({info.st_size} bytes; at most {MAX_IMAGE_BYTES})", label)
        return prefix + f.read(MAX_IMAGE_BYTES)


def _allowed_formats() -> list[str]:
    Image.init()  # register every plugin so `formats=` can name them (cheap after the first call)
    return [name for name in ALLOWED_FORMATS if name in Image.OPEN]  # MPO comes via the JPEG opener


def _recognised(prefix: bytes) -> bool:
    """Whether the first 16 bytes of a file match an allowed decoder's signature (Pillow's own `accept` test)."""
    for name in _allowed_formats():
        accept = Image.OPEN[name][1]
        if accept is None or accept(prefix):
            return True
    return False


def _open_checked(stream: BinaryIO, label: str) -> Image.Image:
    """Open lazily (header only), restrict decoders and refuse images over the pixel limit."""
    try:
        image = Image.open(stream, formats=_allowed_formats())
    except Image.UnidentifiedImageError:
        if _is_empty(stream):
            raise ImageDecodeError("empty file (0 bytes)", label) from None
        raise ImageDecodeError("not an image (unrecognised format)", label) from None
    except Image.DecompressionBombWarning as exc:  # when warnings are turned into errors
        raise ImageDecodeError(f"decompression bomb refused ({exc})", label) from None
    width, height = image.size
    limit = max_image_pixels()
    if width * height > limit:
        raise ImageDecodeError(
            f"decompression bomb refused ({width}x{height} = {width * height} pixels > limit {limit})", label
        )
    if width < 1 or height < 1:
        raise ImageDecodeError(f"invalid image size {width}x{height}", label)
    return image


def _is_empty(stream: BinaryIO) -> bool:
    try:
        stream.seek(0, io.SEEK_END)
        return stream.tell() == 0
    except (OSError, ValueError):
        return False


def _exif_upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a damaged EXIF block leaves the pixels as stored."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001 - malformed EXIF is not a reason to drop an otherwise good image
        return image


def to_standard_mode(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit "RGB" or "L" (alpha composited on white; 16-bit scaled)."""
    mode = image.mode
    if mode in ("RGB", "L") and "transparency" in image.info:  # a tRNS colour key: that colour is see-through
        flat = _composite_on_white(image.convert("RGBA"))
        return flat if mode == "RGB" else flat.convert("L")
    if mode in ("RGB", "L"):
        return image
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette is not None and image.palette.mode == "RGBA"
        return _composite_on_white(image.convert("RGBA")) if has_alpha else image.convert("RGB")
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA") if mode not in ("LA", "La") else image.convert("LA").convert("RGBA")
        flat = _composite_on_white(rgba)
        return flat.convert("L") if mode in ("LA", "La") else flat
    if mode in _GREY_MODES:
        return _grey_to_l(image)
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _grey_to_l(image: Image.Image) -> Image.Image:
    """1-bit, 16-bit, 32-bit integer and float grey images to 8-bit "L"."""
    if image.mode == "1":
        return image.convert("L")
    values = np.asarray(image)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    values = values.astype(np.float64)
    if image.mode.startswith("I") and (values.size == 0 or (values.min() >= 0 and values.max() <= 65535)):
        scaled = values * (255.0 / 65535.0)  # 16-bit range -> 8-bit
    else:
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        scaled = (np.nan_to_num(values, nan=lo) - lo) * (255.0 / max(hi - lo, 1e-12))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _describe(exc: Exception) -> str:
    """Turn a Pillow/OS exception into a short stable reason."""
    text = one_line(exc)
    lowered = text.lower()
    if "truncated" in lowered or isinstance(exc, EOFError):
        return f"truncated image file ({text})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read file ({exc.strerror})"
    return f"corrupt image ({type(exc).__name__}: {text})"
