"""Defaults that follow the data (issue 13 item 5) and the files' own modes (item 16), without Qt."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ddpm_studio.app.data_proposal import DataProfile, is_grey, nearest_size, original_mode, propose_data_shape
from ddpm_studio.data.decode import decode_image
from ddpm_studio.data.sources import open_source


def profile_of(folder) -> DataProfile:
    source = open_source(folder)
    images = [source.load(i) for i in range(len(source))]
    sizes: dict[tuple[int, int], int] = {}
    for image in images:
        sizes[image.size] = sizes.get(image.size, 0) + 1
    return DataProfile.from_sizes(sizes.items(), sum(is_grey(i) for i in images), source=str(folder))


def test_a_folder_of_16px_grayscale_images_proposes_16px_one_channel(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(tmp_path / f"{i}.png")
    shape = propose_data_shape(profile_of(tmp_path))
    assert (shape.image_size, shape.channels) == (16, 1)
    assert "16×16" in shape.reason and "grey" in shape.reason


def test_grey_pixels_saved_as_rgb_count_as_grey_and_colour_does_not(tmp_path):
    grey = np.repeat(np.arange(64, dtype=np.uint8).reshape(8, 8)[..., None], 3, axis=2)
    assert is_grey(Image.fromarray(grey, "RGB"))
    grey[0, 0, 2] = 200
    assert not is_grey(Image.fromarray(grey, "RGB"))


def test_one_colour_image_makes_the_dataset_rgb():
    assert propose_data_shape(DataProfile(images=10, grey=9, sides=((16, 10),))).channels == 3


def test_the_typical_size_is_rounded_on_a_log_scale_and_capped_to_the_preset():
    assert nearest_size(28, (8, 16, 32, 64)) == 32  # MNIST-like digits train at 32
    assert nearest_size(20, (8, 16, 32, 64)) == 16
    photos = DataProfile(images=5, grey=0, sides=((480, 4), (300, 1)))
    assert propose_data_shape(photos, preset="tiny").image_size == 32
    assert "capped" in propose_data_shape(photos, preset="tiny").reason
    assert propose_data_shape(photos, preset="ddpm128").image_size == 128
    assert propose_data_shape(photos, preset=None).image_size == 256
    icons = DataProfile(images=5, grey=5, sides=((4, 5),))
    assert propose_data_shape(icons, preset="small").image_size == 16  # 'small' halves three times


def test_the_median_side_wins_over_outliers():
    profile = DataProfile.from_sizes([((16, 16), 20), ((512, 400), 3)], grey=0)
    assert profile.typical_side() == 16
    assert profile.images == 23


def test_no_images_keeps_the_config_defaults():
    shape = propose_data_shape(DataProfile(images=0, grey=0))
    assert (shape.image_size, shape.channels) == (32, 3)


def test_decoding_keeps_the_files_own_mode(tmp_path):
    files = {"rgba.png": Image.new("RGBA", (4, 4), (1, 2, 3, 100)),
             "cmyk.jpg": Image.new("CMYK", (4, 4), (1, 2, 3, 4)),
             "i16.png": Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)),
             "float.tif": Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)),
             "palette.gif": Image.new("P", (4, 4))}
    for name, image in files.items():
        image.save(tmp_path / name)
    modes = {name: original_mode(decode_image(tmp_path / name)) for name in files}
    assert modes == {"rgba.png": "RGBA", "cmyk.jpg": "CMYK", "i16.png": "I;16", "float.tif": "F",
                     "palette.gif": "P"}
    assert {decode_image(tmp_path / name).mode for name in files} <= {"RGB", "L"}  # converted for training


# --- issue 22 N4: flip in the proposal, and the CLI's scan (profile_source, follow_data) --------------------

def _grey_digits(folder, count: int = 6, side: int = 16) -> None:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8), "L").save(folder / f"d{i}.png")


def test_small_grey_images_get_flip_proposed_off_and_say_so(tmp_path):
    _grey_digits(tmp_path)
    shape = propose_data_shape(profile_of(tmp_path))
    assert shape.hflip is False and "flip off" in shape.reason


def test_colour_images_keep_flip_on_and_say_so(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").save(tmp_path / f"{i}.png")
    shape = propose_data_shape(profile_of(tmp_path))
    assert shape.hflip is True and "flip on" in shape.reason


def test_profile_source_sees_what_the_scan_sees(tmp_path):
    from ddpm_studio.app.data_proposal import profile_source

    _grey_digits(tmp_path)
    expected = profile_of(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not an image")  # left out, as training leaves it out
    assert profile_source(str(tmp_path)) == expected


def test_follow_data_fills_only_what_was_not_given(tmp_path):
    from ddpm_studio.app.data_proposal import follow_data
    from ddpm_studio.data.config import DataConfig

    _grey_digits(tmp_path)
    data, shape = follow_data(DataConfig(source=str(tmp_path)), "tiny", image_size=None, channels=None, hflip=None)
    assert (data.image_size, data.channels, data.hflip) == (16, 1, False) and shape is not None
    data, _ = follow_data(DataConfig(source=str(tmp_path)), "tiny", image_size=32, channels=None, hflip=True)
    assert (data.image_size, data.channels, data.hflip) == (32, 1, True)
    data, shape = follow_data(DataConfig(source="/no/such/folder"), "tiny", image_size=8, channels=3, hflip=True)
    assert shape is None and data.image_size == 8  # everything given: nothing scanned
