"""The file name a save dialog proposes: the run, the sampler and its steps, and what is saved.

"samples.png" in the home folder every time (issue 22 N18) made a person rename each export; both the Sampler's
and the Probe's exports propose `<run>-<sampler>-<steps>steps-<what><suffix>` ("digits16-ddim-50steps-grid.png",
"demo-dpmpp_2m-20steps-animation.gif", "digits16-probe-sdedit.png"); a steered Sampler run adds its class and guidance
scale ("demo-ddim-50steps-triangle-w2-grid.png", issue 20). Qt-free.
"""

from __future__ import annotations

import re
from pathlib import Path

from ddpm_studio import paths
from ddpm_studio.app.sampling import ALL_CLASSES

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
CHECKPOINTS_FOLDER = "checkpoints"


def model_name(checkpoint: str | Path | None) -> str:
    """A short name of the model: "demo" / "demo-classes", the run folder's name, else the checkpoint file's stem."""
    if checkpoint is None or str(checkpoint) == "":
        return "model"
    path = Path(checkpoint)
    try:
        if path.resolve() == paths.demo_checkpoint_dir().resolve() or path.resolve().parent == \
                paths.demo_checkpoint_dir().resolve():
            return "demo-classes" if path.stem == "classes" else "demo"
    except OSError:
        pass
    if path.suffix and path.parent.name == CHECKPOINTS_FOLDER:
        return f"{path.parent.parent.name}-{path.stem}"  # run-step_00004000
    return path.name if not path.suffix else path.stem


def steering_name(class_name: str | None = None, guidance: float | None = None, *, autoguided: bool = False) -> str:
    """'triangle-w2', 'allclasses-w1.5', 'autoguided-w2', '' (no steering): the class and w of a file name."""
    parts = [] if class_name is None else ["allclasses" if class_name == ALL_CLASSES else class_name]
    parts += ["autoguided"] if autoguided else []
    if parts and guidance is not None:
        parts.append(f"w{guidance:g}")
    return "-".join(parts)


def steering_caption(class_name: str | None, guidance: float, *, conditional: bool, autoguided: bool = False) -> str:
    """What scored Sampler images asked for, as the scores' protocol says it (`Protocol.classes`): 'class
    triangle, w = 2', 'every class alike, w = 3', 'no class (the null class)' for a conditional model sampled
    without one, 'autoguided, w = 2'; '' for an unconditional model sampled plainly."""
    if class_name is None:
        parts = ["no class (the null class)"] if conditional else []
    else:
        parts = ["every class alike" if class_name == ALL_CLASSES else f"class {class_name}"]
    if autoguided:
        parts.append("autoguided")
    if autoguided or (class_name is not None and guidance != 1.0):
        parts.append(f"w = {guidance:g}")
    return ", ".join(parts)


def export_name(what: str, suffix: str, *, checkpoint: str | Path | None = None, method: str | None = None,
                steps: int | None = None, steering: str = "") -> str:
    """`<model>[-<method>][-<steps>steps][-<steering>]-<what><suffix>` (`steering_name`: the class and w), safe
    as a file name on every system."""
    parts = [model_name(checkpoint)] + ([method] if method else []) + ([f"{steps}steps"] if steps else [])
    parts += ([steering] if steering else []) + [what]
    return _UNSAFE.sub("_", "-".join(parts)).strip("_") + suffix
