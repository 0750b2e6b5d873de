"""A diffusers pipeline folder opened as an engine model (app/diffusers_model.py): the engine's samplers on it equal
diffusers' own pipelines from the same noise and generator, and every kind of bad folder is one clear line.

The folders are made here with random weights and `save_pretrained` (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

import diffusers

from ddpm_studio.app.diffusers_model import DiffusersModelError, is_diffusers_folder, load_diffusers_model
from ddpm_studio.app.sampling import LaneSpec, SamplingSession
from ddpm_studio.engine import SAMPLERS, SamplingConfig, sample

TOLERANCE = 1e-4


@pytest.fixture
def make_pipeline(tiny_diffusers_unet):
    """`make(folder, kind="ddpm"|"ddim", **scheduler settings) -> folder`: a pipeline saved with random weights."""

    def make(folder: Path, kind: str = "ddpm", **scheduler: object) -> Path:
        unet = tiny_diffusers_unet()
        if kind == "ddpm":
            pipe = diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=50,
                                                                                      **scheduler))
        else:
            pipe = diffusers.DDIMPipeline(unet=unet, scheduler=diffusers.DDIMScheduler(num_train_timesteps=50,
                                                                                      **scheduler))
        pipe.save_pretrained(folder)
        return folder

    return make


def _pipeline_output(pipe, **kwargs) -> torch.Tensor:
    images = pipe(output_type="np", return_dict=False, **kwargs)[0]  # (B, H, W, C) in [0, 1] after (x/2 + 0.5)
    return torch.from_numpy(images).permute(0, 3, 1, 2) * 2.0 - 1.0


@pytest.mark.parametrize("scheduler", [{}, {"variance_type": "fixed_large", "beta_schedule": "squaredcos_cap_v2"},
                                       {"prediction_type": "v_prediction", "clip_sample": False}])
def test_ddpm_ancestral_sampling_equals_ddpm_pipeline(tmp_path, scheduler, make_pipeline):
    folder = make_pipeline(tmp_path / "ddpm", **scheduler)
    found = load_diffusers_model(folder)
    pipe = diffusers.DDPMPipeline.from_pretrained(folder)
    expected = _pipeline_output(pipe, batch_size=2, num_inference_steps=50, generator=torch.Generator().manual_seed(7))
    config = SamplingConfig(method="ddpm", variance=found.variance, clip_x0=found.clip_x0, seed=7, count=2)
    ours = list(sample(found.model, found.diffusion, (2, *found.shape), config))[-1].xt.clamp(-1, 1)
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


def test_ddim_equals_ddim_pipeline_on_its_grid(tmp_path, make_pipeline):
    folder = make_pipeline(tmp_path / "ddim", kind="ddim", clip_sample=False)
    found = load_diffusers_model(folder)
    pipe = diffusers.DDIMPipeline.from_pretrained(folder)
    expected = _pipeline_output(pipe, batch_size=2, num_inference_steps=10, eta=0.0,
                                generator=torch.Generator().manual_seed(3))
    pipe.scheduler.set_timesteps(10)
    grid = pipe.scheduler.timesteps.tolist()  # diffusers' "leading" grid, walked by our DDIM row
    x_T = torch.randn((2, *found.shape), generator=torch.Generator().manual_seed(3))
    ours = list(SAMPLERS["ddim"].run(found.model, found.diffusion, x_T.shape, timesteps=grid, clip_x0=False,
                                     noise=x_T))[-1].xt.clamp(-1, 1)
    torch.testing.assert_close(ours, expected, rtol=0, atol=TOLERANCE)


def test_dpm_solver_equals_diffusers_multistep_scheduler(tmp_path, make_pipeline):
    folder = make_pipeline(tmp_path / "dpm", clip_sample=False)
    found = load_diffusers_model(folder)
    scheduler = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=50, algorithm_type="dpmsolver++",
                                                      solver_order=2, final_sigmas_type="zero")
    scheduler.set_timesteps(8)
    x = torch.randn((2, *found.shape), generator=torch.Generator().manual_seed(5))
    grid = scheduler.timesteps.tolist()
    ours = list(SAMPLERS["dpmpp_2m"].run(found.model, found.diffusion, x.shape, timesteps=grid, clip_x0=False,
                                         noise=x))[-1].xt
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(found.model(x, t.expand(x.shape[0])), t, x).prev_sample
    torch.testing.assert_close(ours, x, rtol=0, atol=TOLERANCE)


def test_a_pipeline_folder_is_a_model_of_the_sampling_session(tmp_path, make_pipeline):
    folder = make_pipeline(tmp_path / "p")
    assert is_diffusers_folder(folder) and not is_diffusers_folder(tmp_path)
    session = SamplingSession((LaneSpec("pub", folder, SamplingConfig(method="dpmpp_2m", steps=4, count=2)),),
                              device="cpu", max_frames=2)
    plan = session.start()
    frames = list(session.frames())
    assert plan.num_steps == (4,) and frames[-1].xt.shape == (2, 8, 8, 3)


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "unet" / "diffusion_pytorch_model.safetensors").unlink(), "has no weights"),
    (lambda f: _edit_json(f / "model_index.json", _class_name="LDMPipeline", vqvae=["diffusers", "VQModel"]),
     "has a vqvae"),
    (lambda f: _edit_json(f / "unet" / "config.json", _class_name="UNet2DConditionModel"),
     "UNet2DConditionModel is not supported"),
    (lambda f: _edit_json(f / "scheduler" / "scheduler_config.json", _class_name="PNDMScheduler"),
     "PNDMScheduler is not supported"),
    (lambda f: _edit_json(f / "scheduler" / "scheduler_config.json", thresholding=True), "thresholding"),
    (lambda f: _edit_json(f / "scheduler" / "scheduler_config.json", beta_wobble=3), "unknown key beta_wobble"),
    (lambda f: _edit_json(f / "unet" / "config.json", sample_sizes=8), "unknown key sample_sizes"),
    (lambda f: (f / "model_index.json").write_text("[1, 2"), "cannot be read as JSON"),
])
def test_bad_folders_are_one_line(tmp_path, damage, message, make_pipeline):
    folder = make_pipeline(tmp_path / "bad")
    damage(folder)
    with pytest.raises(DiffusersModelError, match=message) as raised:
        load_diffusers_model(folder)
    assert "\n" not in str(raised.value)


def test_pickled_code_in_a_legacy_bin_is_refused(tmp_path, make_pipeline):
    folder = make_pipeline(tmp_path / "legacy")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_diffusers_model(folder).model.unet.state_dict()
    weights.unlink()
    torch.save({"weights": state, "code": print}, folder / "unet" / "diffusion_pytorch_model.bin")  # a callable
    with pytest.raises(DiffusersModelError, match="refused"):
        load_diffusers_model(folder)
    torch.save(state, folder / "unet" / "diffusion_pytorch_model.bin")  # plain tensors: the legacy format opens
    assert load_diffusers_model(folder).shape == (3, 8, 8)


def test_the_sweep_and_the_probe_run_on_a_published_model(tmp_path, make_pipeline):
    from ddpm_studio.app.probe import ProbeSettings, run_probe
    from ddpm_studio.app.sweep import SweepSettings, model_data_source, run_sweep

    folder = make_pipeline(tmp_path / "pub")
    data = "builtin:shapes?n=24"
    result = run_sweep(folder, data, SweepSettings(methods=("ddim", "dpmpp_2m"), budgets=(2,), count=8,
                                                   reference_count=8, with_floor=False),
                       device="cpu", cache_dir=tmp_path / "cache")
    assert [(c.method, c.nfe) for c in result.cells] == [("ddim", 2), ("dpmpp_2m", 2)]
    assert all(0.0 <= c.metrics["precision"] <= 1.0 for c in result.cells)
    with pytest.raises(ValueError, match="published model"):
        model_data_source(folder)
    outcome = run_probe(folder, data, [0, 1], ProbeSettings(t_values=(5, 30), steps=3, inversion_steps=4),
                        device="cpu", interpolation=3)
    assert outcome is not None and outcome.sdedit.reconstructions.shape == (2, 2, 8, 8, 3)
    assert outcome.frames is not None and outcome.frames.shape[0] == 3
    with pytest.raises(ValueError, match="give the images to probe"):
        run_probe(folder, None, [0], ProbeSettings(t_values=(5,), steps=2), device="cpu", inversion=False,
                  interpolation=None)


def test_eval_scores_a_published_model_against_given_images(tmp_path, make_pipeline):
    from ddpm_studio.app.evaluation import EvaluationSettings, evaluate_model

    folder = make_pipeline(tmp_path / "pub")
    settings = EvaluationSettings(count=8, steps=2, reference_count=8, batch_size=4)
    result = evaluate_model(folder, "builtin:shapes?n=40", settings, device="cpu")
    assert result.report.scalars()["swd"] > 0 and result.settings.count == 8
    with pytest.raises(ValueError, match="published model: give the images"):
        evaluate_model(folder, None, settings, device="cpu")
