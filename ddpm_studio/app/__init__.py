"""ddpm_studio.app: the use cases both faces share, Qt-free (docs/architecture.md, "Layers").

The CLI (`ddpm_studio.cli`) and the GUI (`ddpm_studio.gui`) parse arguments or read widgets, then make one
call here; nothing a person can do is written twice.

    catalogue.py   the models on offer and what a name means ("demo", a run, a checkpoint file)
    training.py    training jobs: create or resume a run, start it, stop it
    sampling.py    sampling sessions through the engine's `sample()`, as uint8 frames
    recording.py   the frames of a sampling session per lane, and the pictures made from them
    exports.py     grids, per-image PNGs, GIFs and strips, written atomically
    forward.py     the forward process on real images: fixed x_0 and ε, the images × t grid
"""
