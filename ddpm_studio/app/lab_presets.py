"""The 2-D lab's presets: each sets the lab up to make one thing visible, with a one-line caption.

A preset is data (the lab's config, how long to train, the two lanes' samplers, where the t slider goes and
which view it is about); the view and the CLI apply it the same way. The numbers behind each caption are
checked in ``tests/app/test_lab_presets.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ddpm_studio.app.lab import DEFAULT_TRAIN_STEPS, LabConfig, SamplerChoice, lab_diffusion_config

__all__ = ["LabPreset", "PRESETS", "VIEWS", "get_preset"]

VIEWS: tuple[str, ...] = ("forward", "trajectories", "field")


@dataclass(frozen=True)
class LabPreset:
    name: str
    title: str
    caption: str
    config: LabConfig = field(default_factory=LabConfig)
    train_steps: int = DEFAULT_TRAIN_STEPS
    left: SamplerChoice = SamplerChoice("ddim", 20)
    right: SamplerChoice = SamplerChoice("ddpm", 200)
    t_fraction: float = 0.5  # where the t slider goes, as a fraction of T
    view: str = "trajectories"  # one of VIEWS: what the preset is about
    right_schedule: str | None = None  # the right lane's schedule when the preset compares schedules
    right_twin: str | None = None  # the right lane samples Lab.twin(this) ("objective=eps"): two trained models

    def t(self, num_timesteps: int) -> int:
        return min(num_timesteps - 1, round(self.t_fraction * num_timesteps))


def _config(**changes: object) -> LabConfig:
    return replace(LabConfig(), **changes)  # type: ignore[arg-type]


PRESETS: tuple[LabPreset, ...] = (
    LabPreset("schedules", "Schedules' paths to noise",
              "Linear β destroys the data by mid-way; cosine keeps its shape far longer, then both end in N(0, I).",
              config=_config(diffusion=replace(lab_diffusion_config(), schedule="linear")), train_steps=0,
              t_fraction=0.4, view="forward", right_schedule="cosine"),
    LabPreset("ddpm_vs_ddim", "DDPM vs DDIM from the same x_T",
              "Same starting points: DDIM's paths are smooth and repeat exactly; DDPM's jitter and end elsewhere "
              "each run.", left=SamplerChoice("ddim", 50), right=SamplerChoice("ddpm", 200)),
    LabPreset("few_nfe", "What few NFE does",
              "At 3 network evaluations Euler's points land off the moons; DPM-Solver++ keeps closer with the same "
              "budget.", left=SamplerChoice("euler", 3), right=SamplerChoice("dpmpp_2m", 3)),
    LabPreset("memorise", "Memorisation",
              "Ten training points and a long run: every sample lands on one of the ten (nearest distance ~ 0).",
              config=_config(points=10, ema_decay=0.99), train_steps=3000,
              left=SamplerChoice("ddim", 50), right=SamplerChoice("dpmpp_2m", 20)),
    LabPreset("mode_dropping", "Mode dropping with strong guidance",
              "Same x_T, four labelled modes: at CFG w = 5 each class loses over half its spread (0.165 -> 0.075), "
              "squeezed into a streak pushed out past its mode's centre, away from the other classes.",
              config=_config(data="gmm?modes=4&std=0.2", conditional=True),
              left=SamplerChoice("ddim", 25), right=SamplerChoice("ddim", 25, guidance=5.0)),
    LabPreset("x0_blur", "The x0 prediction's blur at large t",
              "At large t the best guess of x0 is the data's mean: the arrows all point to the middle; at small t "
              "they point to the nearest moon.", t_fraction=0.9, view="field"),
)


def get_preset(name: str) -> LabPreset:
    for preset in PRESETS:
        if preset.name == name:
            return preset
    raise ValueError(f"preset must be one of {', '.join(p.name for p in PRESETS)}, got {name!r}")
