"""Issue 19 item 5: one `one_line(exc)` for every error handler; a blank message never breaks one (issue 23 F11:
long values are shortened in messages)."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.errors_text import one_line, short_repr, shorten
from ddpm_studio.training.batches import BatchSource, DataError
from ddpm_studio.training.distributed import DistInfo


def test_one_line_of_blank_multiline_and_huge_messages():
    assert one_line(ValueError("")) == "ValueError"
    assert one_line(ValueError("   \n  ")) == "ValueError"
    assert one_line(ValueError("\n first \nsecond")) == "first"
    assert one_line(KeyError("k"), with_type=True) == "KeyError: 'k'"
    long = one_line(ValueError("x" * 10_000_000))
    assert len(long) <= 320 and "characters" in long


def test_shorten_keeps_head_and_tail():
    assert shorten("short") == "short"
    text = shorten("a" * 500 + "TAIL", 100)
    assert text.startswith("aaa") and text.endswith("TAIL") and len(text) < 140
    assert len(short_repr("s" * 10**7)) < 200
    assert short_repr(10**5000).startswith("<int")


class _Blank(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        raise RuntimeError("   ")  # a blank message: the handler used splitlines()[0] and raised IndexError


def test_a_batch_failing_with_a_blank_message_is_a_data_error():
    source = BatchSource(_Blank(), DistInfo(), seed=0, batch_size=2, generator=torch.Generator())
    with pytest.raises(DataError, match="^RuntimeError$"):
        source.batch(0, 0)
