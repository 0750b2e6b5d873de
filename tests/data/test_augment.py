"""Non-leaky augmentation (EDM, Karras et al. 2022): identity at p = 0, the vector records exactly what was done,
determinism, each operation's own property, and the sizes where an operation makes no sense."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.data.augment import AUGMENT_DIM, AUGMENT_OPS, augment, describe


def _images(b: int = 16, c: int = 3, side: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, c, side, side), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("channels", [1, 3])
def test_p_zero_is_the_identity_with_zero_vectors(channels: int) -> None:
    x = _images(c=channels)
    out, labels = augment(x, 0.0, _gen())
    assert torch.equal(out, x)
    assert labels.shape == (16, AUGMENT_DIM) and not labels.any()


@pytest.mark.parametrize("channels", [1, 3])
def test_a_zero_vector_means_the_image_is_untouched(channels: int) -> None:
    x = _images(b=64, c=channels)
    out, labels = augment(x, 0.3, _gen())
    untouched = ~labels.ne(0).any(dim=1)
    assert 0 < int(untouched.sum()) < 64  # some of each at p = 0.3
    assert torch.equal(out[untouched], x[untouched])
    assert describe(labels[untouched]) == [()] * int(untouched.sum())


@pytest.mark.parametrize("op", AUGMENT_OPS)
def test_each_op_alone_changes_exactly_the_images_its_entries_mark(op: str) -> None:
    x = _images(b=64)
    out, labels = augment(x, 0.5, _gen(), ops=(op,))
    marked = labels.ne(0).any(dim=1)
    changed = (out - x).abs().flatten(1).amax(dim=1) > 1e-6
    assert marked.any()
    assert torch.equal(marked, changed)
    assert all(ops in ((), (op,)) for ops in describe(labels))


def test_the_same_generator_state_gives_the_same_batch_and_vector() -> None:
    x = _images()
    a, b = augment(x, 0.5, _gen(7)), augment(x, 0.5, _gen(7))
    assert torch.equal(a.x, b.x) and torch.equal(a.labels, b.labels)
    c = augment(x, 0.5, _gen(8))
    assert not torch.equal(a.labels, c.labels)


def test_the_draws_do_not_depend_on_the_chosen_ops_or_size() -> None:
    """One fixed amount of randomness per batch: a resumed run's stream does not depend on the image size."""
    g1, g2 = _gen(3), _gen(3)
    augment(_images(side=16), 0.5, g1)
    augment(_images(c=1, side=8), 0.5, g2, ops=("xflip",))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_xflip_twice_is_the_identity_and_matches_flip() -> None:
    x = _images()
    out, labels = augment(x, 1.0, _gen(), ops=("xflip",))
    flipped = labels[:, 0] == 1
    assert flipped.any() and (~flipped).any()
    assert torch.equal(out[flipped], x[flipped].flip(-1))
    assert torch.equal(out[flipped].flip(-1), x[flipped])


def test_rotate90_encodes_k_as_edm_and_four_turns_are_the_identity() -> None:
    x = _images(b=64)
    out, labels = augment(x, 1.0, _gen(), ops=("rotate90",))
    for i in range(64):
        k = {(0, 0): 0, (1, 0): 1, (1, 1): 2, (0, 1): 3}[(int(labels[i, 2]), int(labels[i, 3]))]
        assert torch.equal(out[i], x[i].rot90(k, (1, 2)))
        assert torch.equal(out[i].rot90(4 - k, (1, 2)), x[i])


def test_translation_with_wrap_is_a_roll_and_keeps_the_pixel_multiset() -> None:
    x = _images(b=32)
    out, labels = augment(x, 1.0, _gen(), ops=("translate",), padding="wrap")
    shift = (labels[:, 4:6] * 16 * 0.125).round().long()  # (tx, ty) pixels
    assert shift.abs().max() == 2  # at most 1/8 of 16 pixels
    for i in range(32):
        tx, ty = int(shift[i, 0]), int(shift[i, 1])
        assert torch.equal(out[i], x[i].roll((ty, tx), dims=(1, 2)))
        assert torch.equal(out[i].flatten().sort().values, x[i].flatten().sort().values)


def test_translation_with_reflect_mirrors_the_uncovered_border() -> None:
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8).contiguous() / 8  # columns 0..7
    for seed in range(40):
        out, labels = augment(x, 1.0, _gen(seed), ops=("translate",))
        tx = int(round(float(labels[0, 4])))  # 8 px: the shift is at most 1 pixel
        if tx == 1:  # shifted right: column 0 shows the reflection of column 1 (no repeated edge)
            assert torch.equal(out[0, 0, 0] * 8, torch.tensor([1.0, 0, 1, 2, 3, 4, 5, 6]))
            return
    pytest.fail("no right shift drawn in 40 seeds")


def test_scale_keeps_the_centre_and_brightness_contrast_are_exact_affine_maps() -> None:
    flat = torch.full((4, 1, 8, 8), 0.25)
    out, _ = augment(flat, 1.0, _gen(), ops=("scale",))  # a constant image zooms to itself
    assert torch.allclose(out, flat, atol=1e-6)
    x = _images(b=8, c=1)
    out, labels = augment(x, 1.0, _gen(), ops=("brightness",))
    assert torch.allclose(out, x + 0.2 * labels[:, 7].view(-1, 1, 1, 1), atol=1e-6)
    out, labels = augment(x, 1.0, _gen(), ops=("contrast",))
    assert torch.allclose(out, x * torch.exp2(0.5 * labels[:, 8]).view(-1, 1, 1, 1), atol=1e-6)


def test_saturation_keeps_grey_and_is_skipped_for_one_channel() -> None:
    x = _images(b=8)
    out, labels = augment(x, 1.0, _gen(), ops=("saturation",))
    assert torch.allclose(out.mean(dim=1), x.mean(dim=1), atol=1e-6)  # the grey value of each pixel stays
    assert labels[:, 9].ne(0).all()
    grey = _images(b=8, c=1)
    out, labels = augment(grey, 1.0, _gen(), ops=("saturation",))
    assert torch.equal(out, grey) and not labels.any()


def test_rotate90_is_skipped_on_a_non_square_image() -> None:
    x = torch.rand(8, 3, 8, 12)
    out, labels = augment(x, 1.0, _gen(), ops=("rotate90",))
    assert torch.equal(out, x) and not labels.any()
    out, _ = augment(x, 1.0, _gen())  # the other operations keep the shape
    assert out.shape == x.shape


def test_translate_moves_nothing_on_a_tiny_image() -> None:
    x = torch.rand(16, 1, 4, 4)
    out, labels = augment(x, 1.0, _gen(), ops=("translate",))
    assert torch.equal(out, x) and not labels.any()


@pytest.mark.parametrize("shape", [(2, 3, 16, 1), (2, 1, 1, 16)])
def test_a_one_pixel_wide_image_is_refused_in_one_line(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"at least 2x2 pixels, got \d+x\d+") as info:
        augment(torch.zeros(shape), 0.12, _gen())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, match", [({"p": 1.5}, "probability"), ({"p": 0.1, "ops": ("hue",)}, "unknown"),
                                            ({"p": 0.1, "padding": "zeros"}, "padding")])
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        augment(_images(), generator=_gen(), **kwargs)
