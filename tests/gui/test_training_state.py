"""The training session's phases and their rules, without widgets (gui/training/state.py)."""

from __future__ import annotations

import pytest

from ddpm_studio.gui.training.state import BUSY, TRANSITIONS, IllegalTransition, Phase, TrainingState


def walk(*phases: Phase) -> TrainingState:
    state = TrainingState()
    for phase in phases:
        state.move(phase)
    return state


def test_a_run_goes_through_every_phase_and_observers_see_each_move():
    state, seen = TrainingState(), []
    state.observe(seen.append)
    assert state.phase is Phase.IDLE and not state.is_busy()
    path = [Phase.PREPARING, Phase.TRAINING, Phase.PAUSED, Phase.TRAINING, Phase.STOPPING, Phase.ENDED,
            Phase.PREPARING, Phase.ENDED]  # a second run that fails before its first step
    for phase in path:
        state.move(phase)
        assert state.is_busy() == (phase in BUSY)
    assert seen == path and state.phase is Phase.ENDED


@pytest.mark.parametrize("before, illegal", [
    ((), Phase.TRAINING),  # nothing started
    ((), Phase.ENDED),
    ((Phase.PREPARING,), Phase.PAUSED),  # no Trainer to pause yet
    ((Phase.PREPARING, Phase.STOPPING), Phase.TRAINING),  # stopped during preparation: never trains
    ((Phase.PREPARING, Phase.TRAINING, Phase.STOPPING), Phase.PAUSED),
    ((Phase.PREPARING, Phase.TRAINING, Phase.ENDED), Phase.ENDED),  # one end per run
    ((Phase.PREPARING, Phase.TRAINING, Phase.ENDED), Phase.TRAINING),  # a late step cannot revive a run
    ((Phase.PREPARING, Phase.TRAINING), Phase.PREPARING),  # no second start while busy
])
def test_illegal_moves_raise_and_change_nothing(before, illegal):
    state, seen = walk(*before), []
    state.observe(seen.append)
    phase = state.phase
    assert not state.can(illegal)
    with pytest.raises(IllegalTransition, match=f"from {phase.value} to {illegal.value}"):
        state.move(illegal)
    assert state.phase is phase and seen == []


def test_every_phase_has_its_rules_and_every_busy_phase_can_end():
    assert set(TRANSITIONS) == set(Phase)
    assert all(Phase.ENDED in TRANSITIONS[phase] for phase in BUSY)
    assert TRANSITIONS[Phase.IDLE] == TRANSITIONS[Phase.ENDED] == {Phase.PREPARING}
