"""Shared test set-up: headless Qt, and user folders redirected to a temporary place."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The user's own folders, as the session found them (tests/test_log_isolation.py checks they stay untouched).
USER_ENV = {name: os.environ.get(name) for name in ("DDPM_STUDIO_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                                                    "XDG_CACHE_HOME")}
# From the first import on, before any fixture (session-scoped ones run before the per-test home below) and for
# every subprocess: the data, log and cache folders are the session's own, also where a test removes
# DDPM_STUDIO_HOME to see the platformdirs default (issue 22 N20: CLI runs wrote into the real log file).
SESSION_DIR = tempfile.mkdtemp(prefix="ddpm-studio-tests-")
atexit.register(shutil.rmtree, SESSION_DIR, ignore_errors=True)
os.environ["DDPM_STUDIO_HOME"] = os.path.join(SESSION_DIR, "home")
for _name, _sub in (("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
    os.environ[_name] = os.path.join(SESSION_DIR, _sub)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the real user data dir: runs and logs go to a temporary folder; the log handlers an
    in-process run installed are removed afterwards (their file belongs to this test's folder)."""
    home = tmp_path_factory.mktemp("ddpm_home")
    monkeypatch.setenv("DDPM_STUDIO_HOME", str(home))
    yield home
    from ddpm_studio.app.logs import remove_handlers

    remove_handlers()


def _save_random_checkpoint(path, data: str = "builtin:shapes?n=48", seed: int = 0, classes: tuple[str, ...] = ()):
    """A random tiny UNet (8×8 images, T = 20, linear schedule) saved as a step-1 checkpoint whose config names
    `data`: the model of the sampler, sweep, probe and eval tests (untrained weights give finite, varied images).
    With `classes` (the data's class names) it is class-conditional, its class embedding drawn at random too."""
    import torch

    from ddpm_studio.data.config import DataConfig
    from ddpm_studio.engine import DiffusionConfig, UNet, UNetConfig
    from ddpm_studio.training.checkpoint import save_checkpoint
    from ddpm_studio.training.config import RunConfig, TrainingConfig

    model_config = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, linear_attention=False,
                              mid_attention=False, attention_heads=1, attention_head_dim=8, norm_groups=4,
                              num_classes=len(classes))
    config = RunConfig(model=model_config, diffusion=DiffusionConfig(schedule="linear", timesteps=20),
                       data=DataConfig(source=data, image_size=8, classes=tuple(classes)), training=TrainingConfig())
    torch.manual_seed(seed)
    net = UNet(model_config)
    if classes:
        torch.nn.init.normal_(net.class_embed.weight)  # zero-initialised would make every class the same
    return save_checkpoint(path, config=config, step=1, model_state=net.state_dict())


@pytest.fixture(scope="session")
def save_random_checkpoint():
    """`save_random_checkpoint(path, data=..., seed=0) -> path` (see `_save_random_checkpoint`)."""
    return _save_random_checkpoint


def _toy_sampler(model, diffusion, shape, *, timesteps, clip_x0, noise=None, generator=None, device=None,
                 eta: float = 0.0):
    """A toy sampler-table row: DDIM (η = 0) on the given grid, offset by ``eta``, plus a second (corrector-like)
    network evaluation per step; it costs 2 NFE per step."""
    import torch

    from ddpm_studio.engine.samplers import ddim_sample
    from ddpm_studio.engine.sampling_common import SamplerStep

    for step in ddim_sample(model, diffusion, shape, timesteps=timesteps, clip_x0=clip_x0, noise=noise,
                            generator=generator, device=device):
        model(step.xt, torch.full((shape[0],), step.t))
        yield SamplerStep(step.index, step.num_steps, step.t, step.xt + eta, step.x0_pred, step.eps_pred)


@pytest.fixture
def toy_row():
    """A sampler registered in the engine's table for one test ("toy", 2 NFE per step, reads `eta`)."""
    from ddpm_studio.engine import SAMPLERS, SamplerSpec

    row = SAMPLERS.register(SamplerSpec("toy", _toy_sampler, "Toy (test only)", "even", evals_per_step=2,
                                        final_step_evals=2, options=("eta",)))
    yield row
    SAMPLERS.unregister("toy")


@pytest.fixture(scope="session")
def tiny_diffusers_unet():
    """`make() -> diffusers.UNet2DModel`: a random 8x8 RGB UNet2DModel (two levels, seed 0), for the tests that
    open a published-model folder they save themselves (skipped without diffusers)."""
    diffusers = pytest.importorskip("diffusers")

    def make():
        import torch

        torch.manual_seed(0)
        return diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                                     block_out_channels=(16, 32), norm_num_groups=8,
                                     down_block_types=("DownBlock2D", "DownBlock2D"),
                                     up_block_types=("UpBlock2D", "UpBlock2D"))

    return make


def _train_tiny_run(root, name: str, *, steps: int = 4, lr: float = 1e-3, objective: str = "eps",
                    metrics_every: int = 0, preview_every: int = 0, stop_at: int | None = None, tensorboard=None,
                    grad_clip: float = 1.0, warmup: int = 1):
    """A real short training run (8×8 shapes, T = 10, a width-8 UNet) in `root/name`; scored every
    `metrics_every` steps, previewed every `preview_every` steps, stopped on request at step `stop_at`.
    Returns (run folder, the events it emitted)."""
    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.data import DataConfig
    from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
    from ddpm_studio.training.config import RunConfig, TrainingConfig
    from ddpm_studio.training.events import StepEvent

    config = RunConfig(model=UNET_PRESETS["tiny"].replace(base_channels=8, channel_mults=(1, 2), norm_groups=4),
                       diffusion=DiffusionConfig(timesteps=10, objective=objective),
                       data=DataConfig(source="builtin:shapes?n=8", image_size=8),
                       training=TrainingConfig(batch_size=4, max_steps=steps, lr=lr, warmup_steps=warmup,
                                               grad_clip=grad_clip, preview_every_steps=preview_every,
                                               preview_time_share=0.0, preview_count=4, preview_sampler_steps=2,
                                               metrics_every_steps=metrics_every, metrics_time_share=0.0,
                                               metrics_count=8, metrics_reference_count=8, metrics_sampler_steps=2,
                                               device="cpu", mixed_precision="no", num_threads=1))
    session = prepare(TrainingJob(config=config, runs_dir=root, name=name, tensorboard=tensorboard))
    events = []

    def on_event(event):
        events.append(event)
        if stop_at is not None and isinstance(event, StepEvent) and event.step == stop_at:
            session.request_stop()

    session.run_training(on_event)  # releases the run's lock when it returns
    return session.run.path, events


@pytest.fixture(scope="session")
def train_tiny_run():
    """`train_tiny_run(root, name, steps=4, lr=..., objective=..., metrics_every=0, preview_every=0, stop_at=None,
    tensorboard=None) -> (run folder, events)`: a real short training run (see `_train_tiny_run`)."""
    return _train_tiny_run
