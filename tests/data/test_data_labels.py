"""Class labels from the data: folders, zips, labels.csv, built-in sets, and their one-line errors."""

from __future__ import annotations

import zipfile

import pytest
from PIL import Image

from ddpm_studio.data import DataConfig, DataSourceError, load_dataset, open_source
from ddpm_studio.data.labels import read_labels
from ddpm_studio.data.synthetic import SHAPE_CLASSES, SyntheticSource, _shape_kind


def _png(path, colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def _class_folder(root):
    for name in ("cat/a.png", "cat/b.png", "Dog/c.png"):
        _png(root / name)
    return root


def test_sub_folders_are_classes_sorted_case_insensitively(tmp_path):
    labels = read_labels(open_source(_class_folder(tmp_path / "d")))
    assert labels.classes == ("cat", "Dog") and labels.rule == "folders"
    assert labels.labels == {"cat/a.png": 0, "cat/b.png": 0, "Dog/c.png": 1}


def test_flat_folder_and_one_wrapping_folder_stay_unconditional(tmp_path):
    _png(tmp_path / "flat/a.png")
    _png(tmp_path / "flat/b.png")
    assert read_labels(open_source(tmp_path / "flat")) is None
    _png(tmp_path / "wrap/images/a.png")
    assert read_labels(open_source(tmp_path / "wrap")) is None
    assert read_labels(open_source(_class_folder(tmp_path / "d")), "none") is None


def test_mixed_folder_is_an_error_naming_the_rule(tmp_path):
    root = _class_folder(tmp_path / "d")
    _png(root / "loose.png")
    with pytest.raises(DataSourceError, match=r"labels from folders \(sub-folder name = class\).*'loose.png'"):
        read_labels(open_source(root))


def test_zip_with_a_wrapping_folder(tmp_path):
    src = _class_folder(tmp_path / "d")
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(src.rglob("*.png")):
            z.write(p, "flowers/" + p.relative_to(src).as_posix())
    labels = read_labels(open_source(archive))
    assert labels.classes == ("cat", "Dog") and labels.labels["flowers/Dog/c.png"] == 1


def test_labels_csv_overrides_folders_and_leaves_unnamed_files_unlabelled(tmp_path):
    root = _class_folder(tmp_path / "d")
    (root / "labels.csv").write_text("file,label\ncat/a.png,tabby\nDog/c.png,hound\n")
    labels = read_labels(open_source(root))
    assert labels.rule == "csv" and labels.classes == ("hound", "tabby")
    assert labels.labels == {"cat/a.png": 1, "cat/b.png": -1, "Dog/c.png": 0}
    dataset = load_dataset(DataConfig(source=str(root), image_size=8))
    summary = dataset.label_summary()
    assert summary.counts == (("hound", 1), ("tabby", 1)) and summary.unlabelled == ("cat/b.png",)
    assert dataset.labels.tolist() == [1, -1, 0] and dataset.classes == ("hound", "tabby")
    assert "class 'hound' has only 1 image" in summary.warnings()


@pytest.mark.parametrize("text, message", [
    ("cat/a.png,x\ncat/zz.png,y\n", r"line 2 names 'cat/zz.png', which is not an image"),
    ("cat/a.png,x\ncat/b.png,y\ncat/a.png,y\n", r"names 'cat/a.png' twice \(lines 1 and 3\)"),
])
def test_bad_labels_csv_is_a_one_line_error(tmp_path, text, message):
    root = _class_folder(tmp_path / "d")
    (root / "labels.csv").write_text(text)
    with pytest.raises(DataSourceError, match=message):
        read_labels(open_source(root))


def test_explicit_modes_that_cannot_apply(tmp_path):
    _png(tmp_path / "flat/a.png")
    with pytest.raises(DataSourceError, match="no labels.csv"):
        read_labels(open_source(tmp_path / "flat"), "csv")
    with pytest.raises(DataSourceError, match="no class sub-folders"):
        read_labels(open_source(tmp_path / "flat"), "folders")
    with pytest.raises(DataSourceError, match="built-in sets carry their classes"):
        read_labels(open_source("builtin:shapes?n=4"), "folders")


def test_builtin_sets_carry_their_classes():
    import numpy as np

    source = SyntheticSource("shapes", n=30)
    labels = read_labels(source)
    assert labels.classes == SHAPE_CLASSES == ("circle", "square", "triangle")
    for i in range(30):  # the label is the kind render_shape draws for item i
        rng = np.random.default_rng([0, 1, i])
        assert labels.labels[f"shapes_{i:05d}"] == _shape_kind(rng)[2]
    assert set(labels.labels.values()) == {0, 1, 2}
    glyphs = read_labels(SyntheticSource("glyphs", n=5))
    assert len(glyphs.classes) == 36 and glyphs.classes[0] == "A"


def test_a_run_fixes_the_class_order_and_refuses_other_classes(tmp_path):
    root = _class_folder(tmp_path / "d")
    dataset = load_dataset(DataConfig(source=str(root), image_size=8, classes=("Dog", "cat")))
    assert dataset.labels.tolist() == [1, 1, 0]
    with pytest.raises(DataSourceError, match=r"differ from the run's"):
        load_dataset(DataConfig(source=str(root), image_size=8, classes=("cat", "bird")))


def test_old_config_without_labels_means_none():
    config = DataConfig.from_dict({"source": "x", "image_size": 8, "channels": 3, "hflip": True,
                                   "random_crop": False})
    assert config.labels == "none" and config.classes == ()
    assert DataConfig.from_dict(DataConfig(classes=("a", "b")).to_dict()).classes == ("a", "b")


def test_source_labels_reads_without_decoding(tmp_path):
    from ddpm_studio.data.labels import source_labels

    root = _class_folder(tmp_path / "d")
    (root / "Dog" / "broken.png").write_bytes(b"not an image")  # counted: nothing is decoded
    labels, summary = source_labels(root)
    assert labels.classes == ("cat", "Dog") and summary.counts == (("cat", 2), ("Dog", 2))
    assert summary.rule == "folders" and summary.unlabelled == ()
    assert source_labels(tmp_path / "d", "none") is None


def test_auto_keeps_a_labelling_problem_for_training_to_raise(tmp_path):
    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.training.config import RunConfig

    root = _class_folder(tmp_path / "d")
    _png(root / "loose.png")
    dataset = load_dataset(DataConfig(source=str(root), image_size=8))  # the sweep, the evaluation: images load
    assert len(dataset) == 4 and dataset.labels is None and "loose image at the top level" in dataset.label_problem
    with pytest.raises(DataSourceError, match="labels from folders"):
        load_dataset(DataConfig(source=str(root), image_size=8, labels="folders"))
    config = RunConfig(data=DataConfig(source=str(root), image_size=8))
    with pytest.raises(DataSourceError, match=r"labels from folders \(sub-folder name = class\)"):
        prepare(TrainingJob(config=config, runs_dir=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left
