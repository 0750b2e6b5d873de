"""Issue 14 item 20 / issue 15: the dataset view lists skipped files from the data layer's one folder scan."""

from __future__ import annotations

from PIL import Image

from ddpm_studio.data.sources import FolderSource, scan_folder
from ddpm_studio.gui.dataset.thumbnail_model import skipped_files


def test_the_dataset_views_skipped_files_come_from_the_data_layers_scan(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.txt").write_text("x")
    linked = tmp_path / "elsewhere"
    linked.mkdir()
    (linked / "readme.md").write_text("x")
    (tmp_path / "link").symlink_to(linked, target_is_directory=True)  # followed by the data scan (once)
    source = FolderSource(tmp_path)
    listed = skipped_files(source)
    assert listed == scan_folder(tmp_path).other_files == source.other_files
    assert sorted(p.name for p in listed) == ["elsewhere/readme.md", "notes.txt"]
