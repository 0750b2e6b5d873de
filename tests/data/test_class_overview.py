"""The Dataset tab's numbers for classes (data/class_overview.py): counts, warnings, unlabelled files with the
rule that left them out, rows per class; on real folders of tiny PNGs and the built-in sets."""

from __future__ import annotations

from PIL import Image

from ddpm_studio.data import open_source
from ddpm_studio.data.class_overview import FEW_IMAGES, IMBALANCE, class_overview
from ddpm_studio.data.labels import UNLABELLED


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 200, 10)).save(path)


def _folder(root, sizes: dict[str, int]):
    for name, n in sizes.items():
        for i in range(n):
            _png(root / name / f"{i:03d}.png")
    return root


def test_counts_and_no_warning_for_a_balanced_set(tmp_path):
    overview = class_overview(open_source(_folder(tmp_path / "d", {"cat": 12, "dog": 15})))
    assert overview.rule == "folders" and overview.counts() == (("cat", 12), ("dog", 15))
    assert overview.warnings() == [] and overview.unlabelled() == ()
    assert overview.describe() == "2 classes from sub-folders (sub-folder name = class)"


def test_few_images_and_imbalance_are_warned_of(tmp_path):
    assert FEW_IMAGES == 10 and IMBALANCE == 10.0
    overview = class_overview(open_source(_folder(tmp_path / "d", {"big": 41, "mid": 12, "tiny": 4})))
    assert overview.warnings() == ["class 'tiny' has only 4 images", "classes are imbalanced: 41 vs 4 images"]
    keys = open_source(tmp_path / "d").keys()
    # counted over the valid images only: two bad "big" files make it 39
    valid = [k for k in keys if k not in ("big/000.png", "big/001.png")]
    assert dict(overview.counts(valid))["big"] == 39
    assert overview.rows(keys, 2) == [i for i, k in enumerate(keys) if k.startswith("tiny/")]


def test_loose_files_beside_class_folders_are_unlabelled_under_the_folders_rule(tmp_path):
    root = _folder(tmp_path / "d", {"cat": 10, "dog": 10})
    _png(root / "stray.png")
    overview = class_overview(open_source(root))
    assert overview.rule == "folders" and overview.counts() == (("cat", 10), ("dog", 10))
    (problem,) = overview.unlabelled()
    assert problem.name == "stray.png" and "sub-folder name = class" in problem.reason
    assert "training refuses it" in problem.reason
    assert overview.warnings()[0].startswith("labels from folders (sub-folder name = class)")
    assert overview.rows(open_source(root).keys(), UNLABELLED) == [open_source(root).keys().index("stray.png")]


def test_labels_csv_leaves_unnamed_files_unlabelled_and_a_bad_one_is_the_problem(tmp_path):
    root = _folder(tmp_path / "d", {"a": 2})
    (root / "labels.csv").write_text("file,label\na/000.png,red\n")
    overview = class_overview(open_source(root))
    assert overview.rule == "csv" and overview.counts() == (("red", 1),)
    assert [p.name for p in overview.unlabelled()] == ["a/001.png"]
    assert "labels.csv does not name it" in overview.unlabelled()[0].reason
    (root / "labels.csv").write_text("a/000.png,red\na/000.png,blue\n")
    bad = class_overview(open_source(root))
    assert not bad.labelled and bad.unlabelled() == () and "names 'a/000.png' twice" in bad.problem
    assert bad.warnings() == [bad.problem] and bad.describe().startswith("no classes: labels.csv names")


def test_flat_folder_has_no_classes(tmp_path):
    _png(tmp_path / "flat/a.png")
    _png(tmp_path / "flat/b.png")
    overview = class_overview(open_source(tmp_path / "flat"))
    assert not overview.labelled and overview.warnings() == [] and overview.unlabelled() == ()
    assert overview.describe() == "no classes: flat folder (the model trains unconditional)"


def test_builtin_shapes_carry_three_classes():
    source = open_source("builtin:shapes?n=60")
    overview = class_overview(source)
    assert overview.rule == "builtin" and overview.classes == ("circle", "square", "triangle")
    assert sum(n for _, n in overview.counts()) == 60 and overview.warnings() == []
    assert all(source.label(i) == 1 for i in overview.rows(source.keys(), 1))
