"""decode_image: every format, every conversion, every kind of bad file (files made in tmp_path)."""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.data.decode import IMAGE_EXTENSIONS, ImageDecodeError, decode_image


def _gradient(w: int = 24, h: int = 16) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.uint8)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1))


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".bmp", "BMP"), (".gif", "GIF"),
                                     (".webp", "WEBP"), (".tiff", "TIFF")])
def test_every_supported_format_decodes_to_rgb(tmp_path: Path, ext: str, fmt: str) -> None:
    path = tmp_path / f"img{ext}"
    source = _gradient()
    source.save(path, fmt)
    out = decode_image(path)
    assert out.mode == "RGB" and out.size == (24, 16)
    error = np.abs(np.asarray(out, np.int16) - np.asarray(source, np.int16)).mean()
    assert error < 12  # lossless formats ~0; JPEG / WebP / GIF palette within a few levels
    assert ext in IMAGE_EXTENSIONS


def test_gif_first_frame_only(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    assert decode_image(tmp_path / "anim.gif").getpixel((4, 4)) == (255, 0, 0)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError) as info:
        decode_image(tmp_path / "cut.jpg", name="cut.jpg")
    assert "truncated" in info.value.reason and info.value.name == "cut.jpg"


def test_zero_byte_and_text_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(ImageDecodeError, match="empty file"):
        decode_image(tmp_path / "empty.png")
    with pytest.raises(ImageDecodeError, match="not an image"):
        decode_image(tmp_path / "notes.png")
    with pytest.raises(ImageDecodeError, match="empty file"):
        decode_image(b"")


def test_missing_folder_and_unreadable_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="cannot read"):
        decode_image(tmp_path / "missing.png")
    with pytest.raises(ImageDecodeError, match="folder"):
        decode_image(tmp_path)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX permissions, non-root")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "locked.png"
    _gradient().save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageDecodeError, match="cannot read"):
            decode_image(path)
    finally:
        path.chmod(0o644)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the stored left edge becomes the top
    stored.save(tmp_path / "phone.jpg", "JPEG", exif=exif, quality=95)
    upright = decode_image(tmp_path / "phone.jpg")
    assert upright.size == (20, 40)
    top, bottom = np.asarray(upright)[5, 10], np.asarray(upright)[34, 10]
    assert top[0] > 200 and top[2] < 60  # red on top
    assert bottom[2] > 200 and bottom[0] < 60  # blue at the bottom


def test_palette_with_transparency_and_rgba_composite_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    rgba.putpixel((2, 0), (0, 0, 0, 128))
    rgba.save(tmp_path / "alpha.png")
    out = decode_image(tmp_path / "alpha.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)  # transparent -> white
    assert out.getpixel((1, 0)) == (255, 0, 0)
    assert all(abs(c - 127) <= 1 for c in out.getpixel((2, 0)))  # half-transparent black over white
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 255, 0, 10, 20, 30] + [0] * 762)
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "pal.png", transparency=1)
    out = decode_image(tmp_path / "pal.png")
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((3, 3)) == (0, 255, 0)
    keyed = Image.new("RGB", (2, 1), (10, 20, 30))
    keyed.putpixel((1, 0), (1, 2, 3))
    keyed.save(tmp_path / "keyed.png", transparency=(1, 2, 3))  # tRNS colour key
    assert np.asarray(decode_image(tmp_path / "keyed.png")).tolist() == [[[10, 20, 30], [255, 255, 255]]]
    palette.save(tmp_path / "pal_opaque.gif")
    assert decode_image(tmp_path / "pal_opaque.gif").getpixel((0, 0)) == (10, 20, 30)


def test_grey_modes_la_l_and_1bit(tmp_path: Path) -> None:
    la = Image.new("LA", (2, 1), (0, 0))
    la.putpixel((1, 0), (40, 255))
    la.save(tmp_path / "la.png")
    out = decode_image(tmp_path / "la.png")
    assert out.mode == "L" and out.getpixel((0, 0)) == 255 and out.getpixel((1, 0)) == 40
    Image.new("L", (3, 3), 77).save(tmp_path / "grey.bmp")
    assert decode_image(tmp_path / "grey.bmp").getpixel((1, 1)) == 77
    Image.new("1", (3, 3), 1).save(tmp_path / "bits.tiff")
    out = decode_image(tmp_path / "bits.tiff")
    assert out.mode == "L" and out.getpixel((0, 0)) == 255


def test_16bit_grey_is_scaled_to_8bit(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")  # I;16
    out = decode_image(tmp_path / "deep.png")
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 1, 128, 255]]
    Image.fromarray(values.astype(np.int32)).save(tmp_path / "deep32.tiff")  # mode I
    assert np.asarray(decode_image(tmp_path / "deep32.tiff")).tolist() == [[0, 1, 128, 255]]


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / "print.jpg", "JPEG", quality=95)  # pure cyan
    out = decode_image(tmp_path / "print.jpg")
    assert out.mode == "RGB"
    r, g, b = out.getpixel((4, 4))
    assert r < 20 and g > 235 and b > 235


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height, with a tiny IDAT: a decompression-bomb header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(tmp_path / "bomb.png")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_just_over_the_limit_is_refused_without_decoding() -> None:
    # 10000 x 10000 = 1e8 pixels: over Pillow's 89.5 M limit but under its 2x hard error.
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(_png_header_only(10_000, 10_000))


def test_non_ascii_path_bytes_and_stream(tmp_path: Path) -> None:
    folder = tmp_path / "фото_写真_é"
    folder.mkdir()
    path = folder / "ñandú_猫.png"
    _gradient().save(path)
    assert decode_image(path).size == (24, 16)
    assert decode_image(path.read_bytes()).size == (24, 16)
    with open(path, "rb") as stream:
        assert decode_image(stream).size == (24, 16)


def test_jpeg_draft_keeps_at_least_min_size(tmp_path: Path) -> None:
    Image.new("RGB", (400, 300), (10, 200, 30)).save(tmp_path / "big.jpg")
    out = decode_image(tmp_path / "big.jpg", min_size=64)
    assert min(out.size) >= 64 and out.size[0] < 400
