"""Issue 14, items 6, 18, 20: huge files judged by their header, Pillow's bomb warning kept off stderr, and
every unusable entry of a folder (long paths, dangling links, FIFOs, device links) listed as a problem."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import load_dataset
from ddpm_studio.data.sources import FolderSource

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_DECODE = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # reading 4 GB whole fails here
    from ddpm_studio.data.decode import ImageDecodeError, decode_image
    for path in sys.argv[1:]:
        try:
            decode_image(path)
            print("decoded")
        except ImageDecodeError as exc:
            print(exc.reason)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # peak MB
    """
)


def _sparse(path, size, head=b""):
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)  # sparse: no disk used, no time spent
    return path


@pytest.mark.skipif(os.name != "posix", reason="sparse files and RLIMIT_AS are POSIX")
def test_a_huge_file_is_judged_by_its_header_and_its_size_never_read_whole(tmp_path):
    not_image = _sparse(tmp_path / "big.png", 4 * 2**30)
    huge_png = _sparse(tmp_path / "huge.png", 600 * 2**20, _PNG_SIGNATURE + b"\x00\x00\x00\rIHDR")
    result = subprocess.run([sys.executable, "-c", _DECODE, str(not_image), str(huge_png)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second, peak_mb = result.stdout.splitlines()
    assert first == "not an image (unrecognised format)"
    assert second == f"file too large ({600 * 2**20} bytes; at most {512 * 2**20})"
    assert int(peak_mb) < 1024


_BOMB = textwrap.dedent(
    """
    import sys
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = 1000  # a 40x40 image is over it, under twice it: Pillow's warning range
    from ddpm_studio.data.decode import ImageDecodeError, decode_image
    try:
        decode_image(sys.argv[1])
    except ImageDecodeError as exc:
        print(exc.reason)
    """
)


def test_pillows_decompression_bomb_warning_does_not_reach_stderr(tmp_path):
    Image.new("RGB", (40, 40), "red").save(tmp_path / "bomb.png")
    result = subprocess.run([sys.executable, "-c", _BOMB, str(tmp_path / "bomb.png")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("decompression bomb refused (40x40 = 1600 pixels > limit 1000)")


def _deep_folder_with_image(root, levels=17):
    """A valid image whose folder path is longer than PATH_MAX (4096), made with *at() calls."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d" * 250, dir_fd=fd)
            child = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        image = os.open("deep.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        with open(image, "wb") as f:
            Image.new("RGB", (8, 8), "blue").save(f, format="PNG")
    finally:
        os.close(fd)
    return "/".join(["d" * 250] * levels)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and device files are POSIX")
def test_every_unusable_entry_of_a_folder_is_listed_as_a_problem(tmp_path):
    Image.new("RGB", (8, 8), "green").save(tmp_path / "good.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    os.mkfifo(tmp_path / "pipe.png")  # never opened: reading it would block
    (tmp_path / "device.png").symlink_to("/dev/zero")  # never read: it never ends
    deep = _deep_folder_with_image(tmp_path)
    source = FolderSource(tmp_path)
    assert source.names == ["good.png"]
    reasons = {p.name: p.reason for p in source.problems}
    too_long = [name for name in reasons if name.startswith("d" * 250)]
    assert len(too_long) == 1 and deep.startswith(too_long[0])  # the first folder past PATH_MAX
    assert len(str(tmp_path / too_long[0])) >= 4096 > len(str(tmp_path / too_long[0]).rsplit("/", 1)[0])
    assert reasons == {
        "dangling.png": "dangling link (its target does not exist)",
        "device.png": "not a regular file (a link to a device file)",
        "pipe.png": "not a regular file (a FIFO)",
        too_long[0]: "cannot list folder (File name too long)",
    }
    dataset = load_dataset(DataConfig(source=str(tmp_path), image_size=8, channels=3))
    assert len(dataset) == 1 and {p.name for p in dataset.problems} == set(reasons)
