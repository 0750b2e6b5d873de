"""2-D point sets: every drawn set normalised into [-1, 1], seeded, labelled where it has parts; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.data.points import MAX_CSV_BYTES, POINT_SETS, PointDataError, load_points


@pytest.mark.parametrize("spec", [*POINT_SETS, "gmm?modes=3", "letter:A"])
def test_every_set_is_normalised_and_seeded(spec) -> None:
    a = load_points(spec, count=300, seed=1)
    assert a.points.shape == (300, 2) and a.points.dtype == np.float32
    assert np.abs(a.points).max() == pytest.approx(1.0, abs=1e-6)  # the image map: the extent touches ±1
    assert np.isfinite(a.points).all()
    assert np.array_equal(a.points, load_points(spec, count=300, seed=1).points)
    assert not np.array_equal(a.points, load_points(spec, count=300, seed=2).points)


def test_labels_name_the_parts() -> None:
    gmm = load_points("gmm?modes=3", count=600)
    assert set(gmm.labels.tolist()) == {0, 1, 2}
    centres = np.stack([gmm.points[gmm.labels == k].mean(0) for k in range(3)])
    assert np.linalg.norm(centres[0] - centres[1]) > 0.5  # components sit apart
    assert set(load_points("moons", count=100).labels.tolist()) == {0, 1}
    assert load_points("swiss", count=100).labels is None


def test_letter_points_lie_on_the_glyph() -> None:
    pts = load_points("letter:L", count=500).points
    # an L: its foot along the bottom, its stem on the left, nothing in the upper right
    assert ((pts[:, 0] > 0.3) & (pts[:, 1] > 0.3)).sum() == 0


def test_csv_points_labels_and_header(tmp_path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("x,y,label\n0,0,0\n2,0,1\n0,4,1\n")
    got = load_points(f"csv:{path}")
    assert got.points.tolist() == [[-0.5, -1.0], [0.5, -1.0], [-0.5, 1.0]]
    assert got.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize(("text", "message"), [
    ("", "p.csv: no points; a distribution needs at least 2"),
    ("x,y\n1,2\n", "p.csv: one point; a distribution needs at least 2"),
    ("1,2\nnan,3\n4,5\n", "p.csv: line 2 of the points has a NaN or infinite coordinate"),
    ("1,2\n3\n", "p.csv: line 2 of the points has one column; every line needs two"),
    ("1,2\na,b\n", "p.csv: not numbers"),
    ("1,1\n1,1\n", "all points are the same point"),
])
def test_bad_csv_gets_one_line(tmp_path, text, message) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(PointDataError, match=message.replace("(", r"\(")) as info:
        load_points(f"csv:{path}")
    assert "\n" not in str(info.value)


def test_huge_csv_is_refused_before_reading(tmp_path) -> None:
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.truncate(MAX_CSV_BYTES + 1)
    with pytest.raises(PointDataError, match="big.csv: 16.0 MiB is too large for a point set"):
        load_points(f"csv:{path}")


def test_images_dark_pixels_and_an_all_white_image(tmp_path) -> None:
    white = tmp_path / "white.png"
    Image.new("RGB", (20, 20), "white").save(white)
    with pytest.raises(PointDataError, match="white.png: no dark pixels"):
        load_points(f"image:{white}")
    dot = Image.new("L", (20, 20), 255)
    dot.paste(0, (2, 2, 6, 6))
    dot.paste(0, (14, 14, 18, 18))
    dot.save(tmp_path / "dots.png")
    pts = load_points(f"image:{tmp_path / 'dots.png'}", count=200).points
    assert ((pts[:, 0] < 0) == (pts[:, 1] > 0)).all()  # top-left and bottom-right squares, y pointing up
    with pytest.raises(PointDataError, match="missing.png"):
        load_points(f"image:{tmp_path / 'missing.png'}")


def test_unknown_names_and_parameters() -> None:
    with pytest.raises(PointDataError, match="unknown point set 'blob'; choose one of moons, gmm"):
        load_points("blob")
    with pytest.raises(PointDataError, match="gmm: modes must be 1..64"):
        load_points("gmm?modes=0")
    with pytest.raises(PointDataError, match="key=number"):
        load_points("gmm?modes=x")
    with pytest.raises(PointDataError, match="count must be"):
        load_points("moons", count=1)


def test_brush_and_drawn_points() -> None:
    from ddpm_studio.data.points import MIN_DRAWN, brush, drawn_points

    rng = np.random.default_rng(0)
    dab = brush((0.5, -0.2), 0.1, 200, rng)
    assert dab.shape == (200, 2) and np.linalg.norm(dab - [0.5, -0.2], axis=1).max() <= 0.1 + 1e-6
    assert np.linalg.norm(dab - [0.5, -0.2], axis=1).mean() > 0.05  # spread over the disc, not at its centre
    assert np.array_equal(brush((0, 0), 0.0, 3, rng), np.zeros((3, 2)))
    drawn = drawn_points(np.concatenate([brush((-1, 0), 0.1, 15, rng), brush((1, 1), 0.1, 15, rng)]))
    assert drawn.spec == "drawn" and len(drawn) == 30 and drawn.labels is None
    assert np.abs(drawn.points).max() == pytest.approx(1.0)  # normalised like every set
    with pytest.raises(PointDataError, match=f"drawn: 3 points; draw at least {MIN_DRAWN}"):
        drawn_points(np.zeros((3, 2)))
    with pytest.raises(PointDataError, match="drawn: 0 points; draw at least"):
        drawn_points(np.zeros((0, 2)))
    with pytest.raises(PointDataError, match="all points are the same point"):
        drawn_points(np.zeros((30, 2)))
    bad = brush((0, 0), 0.5, 30, rng)
    bad[4, 1] = np.nan
    with pytest.raises(PointDataError, match="drawn: a point has a NaN or infinite coordinate"):
        drawn_points(bad)
