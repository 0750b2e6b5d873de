"""The learning rate as a pure function of the step: linear warm-up, then constant or a cosine decay.

For the step with 0-based index s, peak rate η = lr, W = warmup_steps, S = the run's step total and
floor ratio r = lr_min_ratio:

    warm-up   w(s) = min(1, (s + 1) / W)                                    (w = 1 when W = 0)
    constant  η_s = η · w(s)
    cosine    η_s = η · w(s) · (r + (1 − r) · ½ (1 + cos(π · p))),  p = clip((s + 1 − W) / (S − W), 0, 1)

The cosine is SGDR's annealing (Loshchilov & Hutter 2017, eq. 5) without restarts, from η at the end of
the warm-up down to η_min = r·η at the last step (s = S − 1), as in improved-diffusion and nanoGPT.

Rules at the edges:
- S is the step the run stops at: min(max_steps, epochs × steps per epoch, planned_steps), where a time
  budget (max_minutes) is turned into planned_steps from the measured step rate (budget.py) and recorded.
- Until that plan exists (the first seconds of a run bounded by max_minutes alone) S is unknown and the
  progress p cannot be known: the cosine factor stays 1 (the warm-up still applies).
- S ≤ W (the run ends within its warm-up): there is nothing left to decay; the rate is the warm-up's.
- Resuming with a longer run (a larger S) stretches the rest of the decay from the step reached.
Being a function of (config, step, S) only, the rate needs no state in checkpoints.
"""

from __future__ import annotations

import math

from ddpm_studio.training.config import TrainingConfig


def cosine_factor(step: int, warmup_steps: int, total_steps: int | None, min_ratio: float) -> float:
    """r + (1 − r)·½(1 + cos(π·p)) for the step with 0-based index `step` (1 during warm-up; see above)."""
    if total_steps is None or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, max(0.0, (step + 1 - warmup_steps) / (total_steps - warmup_steps)))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def learning_rate(config: TrainingConfig, step: int, total_steps: int | None) -> float:
    """η_s of the step with 0-based index `step` in a run of `total_steps` steps (None: not known)."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps > 0 else 1.0
    if config.lr_schedule == "cosine":
        return config.lr * warm * cosine_factor(step, config.warmup_steps, total_steps, config.lr_min_ratio)
    return config.lr * warm
