"""The training session as an explicit state: idle, preparing, training, paused, stopping, ended.

Qt-free, so its rules are tested without widgets: `TrainingPanel` moves it on its buttons and the training
task's snapshots and redraws its controls from it (`observe`). An illegal move (resume while stopping, a second
end) raises instead of being absorbed; the panel asks `can()` where a move may rightly not apply.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum


class Phase(Enum):
    IDLE = "idle"  # nothing trained since the panel was made
    PREPARING = "preparing"  # the job's run, data and Trainer are being made
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"  # stop requested: the Trainer writes a checkpoint, then ends
    ENDED = "ended"  # the task has finished (completed, stopped or failed); a new one may start


BUSY = frozenset({Phase.PREPARING, Phase.TRAINING, Phase.PAUSED, Phase.STOPPING})
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.PREPARING}),
    Phase.PREPARING: frozenset({Phase.TRAINING, Phase.STOPPING, Phase.ENDED}),  # ended: failed or cancelled
    Phase.TRAINING: frozenset({Phase.PAUSED, Phase.STOPPING, Phase.ENDED}),
    Phase.PAUSED: frozenset({Phase.TRAINING, Phase.STOPPING, Phase.ENDED}),  # ended: joined by a shutdown
    Phase.STOPPING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset({Phase.PREPARING}),
}


class IllegalTransition(ValueError):
    """A move the session's rules do not allow: a bug in the caller, never a user error."""


class TrainingState:
    """The phase of one training panel's session; observers are called after every move."""

    def __init__(self) -> None:
        self._phase = Phase.IDLE
        self._observers: list[Callable[[Phase], None]] = []

    @property
    def phase(self) -> Phase:
        return self._phase

    def is_busy(self) -> bool:
        """True from Start until the task's end has been handled (preparing, training, paused or stopping)."""
        return self._phase in BUSY

    def can(self, to: Phase) -> bool:
        return to in TRANSITIONS[self._phase]

    def move(self, to: Phase) -> None:
        if not self.can(to):
            raise IllegalTransition(f"training cannot go from {self._phase.value} to {to.value}")
        self._phase = to
        for observer in self._observers:
            observer(to)

    def observe(self, callback: Callable[[Phase], None]) -> None:
        """Call `callback(phase)` after every move (on the thread that moves: the GUI thread)."""
        self._observers.append(callback)
