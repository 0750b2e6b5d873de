"""Image sources: a folder (recursive), a .zip archive, or a built-in synthetic set.

A source lists candidate images by name (sorted, deterministic) and decodes one on demand; it never
decodes at construction. Hidden files and folders (a leading ".", the Windows hidden attribute, and
macOS "__MACOSX" archive folders) are ignored. Only extensions in `IMAGE_EXTENSIONS` are candidates;
whether a candidate really is an image is decided by `decode_image` when it is loaded.
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image

from ddpm_studio.data.decode import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, ImageDecodeError, decode_image
from ddpm_studio.data.problems import DataSourceError, Problem
from ddpm_studio.data.synthetic import BUILTIN_DATASETS, BUILTIN_PREFIX, SyntheticSource

__all__ = [
    "ImageSource", "FolderSource", "ZipSource", "SyntheticSource", "open_source", "iter_image_paths", "scan_folder",
    "FolderScan",
    "BUILTIN_DATASETS", "MAX_MEMBER_BYTES",
]

MAX_MEMBER_BYTES = MAX_IMAGE_BYTES  # a zip member claiming more than this (uncompressed) is refused


@runtime_checkable
class ImageSource(Protocol):
    """What `ImageDataset` reads from. `load` raises `ImageDecodeError` for a bad item."""

    name: str  # display name
    spec: str  # the string that reopens it with `open_source`

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...  # names of candidate images (relative paths)

    def load(self, index: int, *, min_size: int | None = None) -> Image.Image: ...


def _is_hidden(entry: os.DirEntry) -> bool:
    if entry.name.startswith(".") or entry.name == "__MACOSX":
        return True
    if os.name != "nt":
        return False
    attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)  # cached on Windows
    return bool(attributes & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _sort_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)  # case-insensitive first, then exact: same order on every platform


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISCHR, "a device file"), (stat.S_ISBLK, "a device file"))


def _special_reason(entry: os.DirEntry) -> str | None:
    """Why a directory entry that is neither a folder nor a regular file cannot be an image (None if it is one).
    Special files are never opened: reading a FIFO would block, a device could be endless."""
    try:
        target = os.stat(entry.path)  # follows links
    except FileNotFoundError:
        return "dangling link (its target does not exist)" if entry.is_symlink() else "vanished while scanning"
    except OSError as exc:
        return f"cannot read file ({exc.strerror or exc})"
    for test, kind in _SPECIAL_KINDS:
        if test(target.st_mode):
            return f"not a regular file ({'a link to ' if entry.is_symlink() else ''}{kind})"
    return None


@dataclass
class FolderScan:
    """What a folder holds: candidate image paths, unusable candidates, and files of other types."""

    root: Path
    paths: list[Path] = field(default_factory=list)  # image-extension regular files, in scan order
    problems: list[Problem] = field(default_factory=list)  # dangling links, FIFOs, devices, unlistable folders
    other_files: list[Problem] = field(default_factory=list)  # not an image file type (e.g. notes.txt)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path != self.root else "."


def _walk(root: Path, cancel: Callable[[], bool] | None) -> Iterator[tuple[str, Path, str]]:
    """("image" | "problem" | "other", path, reason) for every visible entry under `root`, depth first, each
    folder's entries in sorted order. Hidden entries (one rule: `_is_hidden`) are passed over silently;
    symlinked folders are followed once (no loops)."""
    seen: set[tuple[int, int]] = set()
    stack: list[Path] = [root]
    while stack:
        directory = stack.pop()
        try:
            info = directory.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: _sort_key(e.name))
        except OSError as exc:  # unreadable, or a path longer than PATH_MAX
            yield "problem", directory, f"cannot list folder ({exc.strerror or exc})"
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if cancel is not None and cancel():
                return
            try:
                if _is_hidden(entry):
                    continue
                if entry.is_dir():
                    subdirs.append(Path(entry.path))
                    continue
                ext = os.path.splitext(entry.name)[1].lower()
                if ext not in IMAGE_EXTENSIONS:
                    yield "other", Path(entry.path), f"not an image file type ({ext or 'no extension'})"
                elif entry.is_file():
                    yield "image", Path(entry.path), ""
                else:
                    yield "problem", Path(entry.path), _special_reason(entry) or "not a regular file"
            except OSError as exc:
                yield "problem", Path(entry.path), f"cannot read file ({exc.strerror or exc})"
        stack.extend(reversed(subdirs))  # visit sub-folders in sorted order


def iter_image_paths(folder: Path | str, *, cancel: Callable[[], bool] | None = None) -> Iterator[Path]:
    """Yield image-extension files under `folder`, depth first, each folder's entries in sorted order.

    Lazy, for a GUI that counts in the background; stops early when `cancel()` returns True.
    """
    for kind, path, _ in _walk(Path(folder), cancel):
        if kind == "image":
            yield path


def scan_folder(folder: Path | str, *, cancel: Callable[[], bool] | None = None) -> FolderScan:
    """Every visible entry under `folder`, sorted into candidates, problems and other files (one scan rule
    for the dataset and the GUI's dataset view)."""
    scan = FolderScan(Path(folder))
    for kind, path, reason in _walk(scan.root, cancel):
        if kind == "image":
            scan.paths.append(path)
        else:
            (scan.problems if kind == "problem" else scan.other_files).append(Problem(scan.relative(path), reason))
    return scan


class FolderSource:
    """All image files under a folder (recursive); names are POSIX paths relative to the folder."""

    def __init__(self, folder: Path | str, *, cancel: Callable[[], bool] | None = None) -> None:
        self.root = Path(folder)
        if not self.root.is_dir():
            raise DataSourceError(f"not a folder: '{self.root}'")
        scan = scan_folder(self.root, cancel=cancel)
        self.paths = scan.paths
        self.names = [p.relative_to(self.root).as_posix() for p in self.paths]
        self.name = self.root.name or str(self.root)
        self.problems: list[Problem] = scan.problems  # candidates that can never load (links, FIFOs, ...)
        self.other_files: list[Problem] = scan.other_files  # files of other types, listed by the GUI
        if not self.paths:
            allowed = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise DataSourceError(f"no image files found in folder '{self.root}' (looked for {allowed})")

    @property
    def spec(self) -> str:
        return str(self.root)

    def __len__(self) -> int:
        return len(self.paths)

    def keys(self) -> list[str]:
        return list(self.names)

    def load(self, index: int, *, min_size: int | None = None) -> Image.Image:
        return decode_image(self.paths[index], name=self.names[index], min_size=min_size)


def _zip_member_hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/") if part)


class ZipSource:
    """Image members of a .zip archive, read lazily one member at a time (the archive is never extracted)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()  # one ZipFile handle per thread: reads never interleave
        try:
            with zipfile.ZipFile(self.path) as archive:
                infos = [
                    info for info in archive.infolist()
                    if not info.is_dir()
                    and not _zip_member_hidden(info.filename)
                    and os.path.splitext(info.filename)[1].lower() in IMAGE_EXTENSIONS
                ]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise DataSourceError(f"cannot read zip archive '{self.path}': {exc}") from None
        infos.sort(key=lambda info: _sort_key(info.filename))
        self.members = [info.filename for info in infos]
        self._sizes = [info.file_size for info in infos]
        self._encrypted = [bool(info.flag_bits & 0x1) for info in infos]
        self.name = self.path.name
        self.problems: list[Problem] = []
        if not self.members:
            allowed = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise DataSourceError(f"no image files found in zip archive '{self.path}' (looked for {allowed})")

    @property
    def spec(self) -> str:
        return str(self.path)

    def __len__(self) -> int:
        return len(self.members)

    def keys(self) -> list[str]:
        return list(self.members)

    def _archive(self) -> zipfile.ZipFile:
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = self._local.archive = zipfile.ZipFile(self.path)
        return archive

    def load(self, index: int, *, min_size: int | None = None) -> Image.Image:
        name = self.members[index]
        if self._encrypted[index]:
            raise ImageDecodeError("encrypted zip member (password protected)", name)
        if self._sizes[index] > MAX_MEMBER_BYTES:
            raise ImageDecodeError(f"zip member too large ({self._sizes[index]} bytes)", name)
        try:
            data = self._archive().read(name)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:
            raise ImageDecodeError(f"damaged zip member ({exc})", name) from None
        return decode_image(data, name=name, min_size=min_size)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_local")  # open handles do not cross processes (DataLoader workers)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()


def open_source(spec: str | Path) -> ImageSource:
    """Open a folder, a .zip archive or ``"builtin:<name>[?n=..&size=..&seed=..]"``.

    Raises `DataSourceError` with a one-line message for a missing path, a file that is neither a folder
    nor a zip archive, a damaged archive, or a source without any image file.
    """
    if isinstance(spec, str) and spec.strip().lower().startswith(BUILTIN_PREFIX):
        return SyntheticSource.from_spec(spec.strip())
    if isinstance(spec, str) and not spec.strip():
        raise DataSourceError("no data source given (a folder, a .zip file or builtin:shapes / builtin:glyphs)")
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataSourceError(f"no such folder or file: '{path}'")
    if path.is_dir():
        return FolderSource(path)
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return ZipSource(path)
    raise DataSourceError(f"'{path}' is a file, not a folder of images or a .zip archive")
