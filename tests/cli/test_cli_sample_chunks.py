"""`sample --count N` samples in chunks through app.chunked_sampling and loads the model once for all of them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ddpm_studio.app import sampling as app_sampling


def test_two_thousand_images_take_one_model_load(cli_here, tmp_path, tiny_run, monkeypatch):
    loads = []
    real = app_sampling.load_model

    def counting(*args, **kwargs):
        loads.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(app_sampling, "load_model", counting)
    out = tmp_path / "two-thousand"
    result = cli_here("sample", "tiny", "--runs-dir", str(tiny_run.parent), "--count", "2000", "--method", "ddim",
                      "--steps", "2", "--out", str(out), "--quiet")
    assert result.code == 0, result.err
    assert len(loads) == 1  # 8 chunks of at most 256 images, one load
    files = sorted(out.glob("sample_*.png"))
    assert len(files) == 2000 and (out / "sample_1999.png").is_file()
    chunk_firsts = [np.asarray(Image.open(out / f"sample_{i:03d}.png")) for i in (0, 256, 512)]
    assert not np.array_equal(chunk_firsts[0], chunk_firsts[1]) and not np.array_equal(*chunk_firsts[1:])


def test_chunk_zero_is_exactly_an_unchunked_run(tmp_path, tiny_run):
    """Chunk 0 of a long run is the same images as sampling that many alone: the chunking adds nothing."""
    from pathlib import Path

    from ddpm_studio.app.chunked_sampling import sample_in_chunks
    from ddpm_studio.app.sampling import LaneSpec, SamplingSession
    from ddpm_studio.engine import SamplingConfig

    checkpoint = sorted(Path(tiny_run, "checkpoints").glob("*.safetensors"))[-1]
    config = SamplingConfig(method="ddim", steps=2, seed=4, count=6)
    chunks = list(sample_in_chunks(checkpoint, config, chunk=4, device="cpu"))
    assert [c.first for c in chunks] == [0, 4] and [c.frames[-1].xt.shape[0] for c in chunks] == [4, 2]
    alone = SamplingSession((LaneSpec("a", checkpoint, SamplingConfig(method="ddim", steps=2, seed=4, count=4)),),
                            device="cpu", max_frames=1)
    assert np.array_equal(list(alone.frames())[-1].xt, chunks[0].frames[-1].xt)


def test_sample_opens_a_diffusers_pipeline_folder(cli_here, tmp_path, tiny_diffusers_unet):
    import diffusers

    unet = tiny_diffusers_unet()
    folder = tmp_path / "published"
    diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(num_train_timesteps=30)).save_pretrained(folder)
    out = tmp_path / "out"
    result = cli_here("sample", str(folder), "--method", "dpmpp_2m", "--nfe", "5", "--count", "3", "--out", str(out),
                      "--quiet")
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.glob("sample_*.png")) == ["sample_000.png", "sample_001.png", "sample_002.png"]
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    broken = cli_here("sample", str(folder), "--steps", "5", "--count", "1", "--out", str(out), "--quiet")
    assert broken.code == 1 and broken.err_lines == [f"ddpm-studio: error: {folder / 'unet'} has no weights "
                                                     "(diffusion_pytorch_model.safetensors or "
                                                     "diffusion_pytorch_model.bin)"]
