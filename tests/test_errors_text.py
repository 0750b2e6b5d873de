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


def test_a_long_message_is_cut_after_a_whole_sentence():
    """Issue 23 F17: the damaged-state warning was cut mid-sentence at 200 characters."""
    torch_says = ("PytorchStreamReader failed reading zip archive: failed finding central directory. This is an "
                  "internal miniz error. If you are seeing this error, there is a high likelihood that your checkpoint "
                  "file is corrupted. This can happen if the checkpoint was not saved properly.")
    assert one_line(RuntimeError(torch_says), 200) == ("PytorchStreamReader failed reading zip archive: failed "
                                                       "finding central directory. This is an internal miniz error.")


def test_a_truncated_state_file_is_named_in_whole_sentences(tmp_path):
    import io

    from ddpm_studio.training.checkpoint import CheckpointError, load_training_state

    buffer = io.BytesIO()
    torch.save({"a": torch.zeros(1000)}, buffer)
    path = tmp_path / "step_00000002.state.pt"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CheckpointError) as info:
        load_training_state(path)
    message = str(info.value)
    assert message.startswith("step_00000002.state.pt is damaged and was not loaded (") and message.endswith(".)")
