"""Export names say the run, the sampler and its steps (issue 22 N18)."""

from __future__ import annotations

from ddpm_studio import paths
from ddpm_studio.app.export_names import export_name, model_name


def test_names_by_run_sampler_and_steps(tmp_path):
    run = tmp_path / "digits16"
    assert export_name("grid", ".png", checkpoint=run, method="ddim", steps=50) == "digits16-ddim-50steps-grid.png"
    step = run / "checkpoints" / "step_00004711.safetensors"
    assert model_name(step) == "digits16-step_00004711"
    assert export_name("animation", ".gif", checkpoint=paths.demo_checkpoint_dir(), method="dpmpp_2m",
                       steps=20) == "demo-dpmpp_2m-20steps-animation.gif"
    assert model_name(paths.demo_checkpoint_dir() / "model.safetensors") == "demo"
    assert model_name(paths.demo_checkpoint_dir() / "classes.safetensors") == "demo-classes"
    assert export_name("sdedit", ".png", checkpoint=tmp_path / "my run (2)", method="probe") == \
        "my_run_2_-probe-sdedit.png"
    assert export_name("grid", ".png") == "model-grid.png"
