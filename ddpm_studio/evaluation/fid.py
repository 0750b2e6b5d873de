"""FID and KID over features of a feature network the user supplies as a local file; never downloaded.

- Fréchet distance (Heusel et al. 2017, eq. 6 / Dowson & Landau 1982) between Gaussians fitted to two
  feature sets: ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁Σ₂)^{1/2}). Tr (Σ₁Σ₂)^{1/2} is computed exactly as the sum of
  the square roots of the eigenvalues of the symmetric PSD matrix Σ₁^{1/2} Σ₂ Σ₁^{1/2} (float64 eigh).
- Kernel inception distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §3/appendix): the unbiased
  MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets
  (the defaults of torch-fidelity/the paper: 100 subsets of up to 1000).

The network: pytorch-fid, torch-fidelity and torchmetrics all need torchvision, which from the registry pulls a
CUDA torch that replaces ours (checked 2026: torchvision 0.29 requires torch >= 2.14), so we load a
TorchScript (or torch.export) feature extractor the user points to (`load_feature_network`). Two known files:

- clean-fid / StyleGAN3's Inception-v3 TorchScript "inception-2015-12-05.pt": input 0..255 at 299×299, called
  with return_features=True -> 2048 features: load_feature_network(path, call_kwargs={"return_features": True}).
- pytorch-fid's weights (pt_inception-2015-12-05-*.pth) are a state dict for its InceptionV3 class, which needs
  torchvision to build; convert once where pytorch-fid is installed:
      m = pytorch_fid.inception.InceptionV3([3]).eval()   # pool3, 2048 features, input 0..1, resizes itself
      torch.jit.trace(Pool3(m), torch.zeros(1, 3, 299, 299)).save("fid_inception.pt")
  (Pool3: an nn.Module whose forward returns m(x)[0].flatten(1)),
  and load it with load_feature_network(path, input_range=(0.0, 1.0)).
The file is loaded on CPU; FeatureNetwork describes its input convention. Nothing is ever downloaded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ddpm_studio.errors_text import one_line

__all__ = ["FeatureNetwork", "load_feature_network", "frechet_distance", "kernel_distance", "FIDResult",
           "fid_kid"]


@dataclass
class FeatureNetwork:
    """A feature extractor and how to feed it: images in [-1, 1] are resized to `input_size` and mapped to
    `input_range` ((0, 255) for the clean-fid/StyleGAN Inception, (-1, 1) for networks trained that way)."""

    module: Callable[..., Tensor]
    input_size: int | None = 299  # None: feed at the images' own size
    input_range: tuple[float, float] = (0.0, 255.0)
    call_kwargs: dict | None = None  # e.g. {"return_features": True} for the StyleGAN TorchScript Inception
    name: str = "features"

    @torch.no_grad()
    def features(self, images: Tensor, batch_size: int = 64) -> Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, F) float64 features; 1-channel images are repeated to 3."""
        out = []
        low, high = self.input_range
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if self.input_size is not None and x.shape[-1] != self.input_size:
                x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
            x = low + (x.clamp(-1, 1) + 1.0) * 0.5 * (high - low)
            y = self.module(x, **(self.call_kwargs or {}))
            out.append(y.reshape(y.shape[0], -1).double())
        return torch.cat(out)


def load_feature_network(path: str | Path, *, input_size: int | None = 299,
                         input_range: tuple[float, float] = (0.0, 255.0),
                         call_kwargs: dict | None = None) -> FeatureNetwork:
    """A TorchScript (or torch.export .pt2) feature network from a local file, never downloaded; ValueError if it
    cannot be used."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"no feature network file at {path} (FID needs a local Inception TorchScript file)")
    try:
        if path.suffix == ".pt2":  # torch.export archive (the successor of TorchScript)
            module = torch.export.load(str(path)).module()
        else:
            with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the Inception files use it
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
                module.eval()
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f"{path.name} is not a TorchScript or torch.export file: "
                         f"{one_line(exc)}") from None
    return FeatureNetwork(module=module, input_size=input_size, input_range=input_range, call_kwargs=call_kwargs,
                          name=path.name)


def _statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    f = features.double()
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / max(f.shape[0] - 1, 1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """‖μ_a - μ_b‖² + Tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^{1/2}) of feature sets a (N, F) and b (M, F)."""
    mu_a, sigma_a = _statistics(a)
    mu_b, sigma_b = _statistics(b)
    root_a = _sqrt_psd(sigma_a)
    middle = root_a @ sigma_b @ root_a  # similar to Σ_a Σ_b: same eigenvalues, symmetric PSD
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (mu_a - mu_b).square().sum() + torch.trace(sigma_a) + torch.trace(sigma_b) - 2 * trace_sqrt
    return float(value.clamp_min(0))


def kernel_distance(a: Tensor, b: Tensor, *, generator: torch.Generator, subsets: int = 100,
                    subset_size: int = 1000) -> tuple[float, float]:
    """(mean, std) over random subsets of the unbiased MMD² with k(x, y) = (xᵀy / d + 1)³."""
    a, b = a.double(), b.double()
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 images in each set")
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[torch.randperm(a.shape[0], generator=generator)[:m]]
        y = b[torch.randperm(b.shape[0], generator=generator)[:m]]
        k_xx, k_yy, k_xy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
        values.append(off - 2 * k_xy.mean())
    stacked = torch.stack(values)
    return float(stacked.mean()), float(stacked.std()) if subsets > 1 else 0.0


@dataclass(frozen=True)
class FIDResult:
    fid: float
    kid: float  # mean unbiased MMD² (often shown ×10³)
    kid_std: float
    network: str


def fid_kid(samples: Tensor, reference: Tensor, network: FeatureNetwork, *, generator: torch.Generator,
            kid_subsets: int = 100, kid_subset_size: int = 1000,
            reference_features: Tensor | None = None) -> FIDResult:
    """FID and KID of samples vs reference images (both (N, C, H, W) in [-1, 1])."""
    f_s = network.features(samples)
    f_r = network.features(reference) if reference_features is None else reference_features
    kid, kid_std = kernel_distance(f_s, f_r, generator=generator, subsets=kid_subsets, subset_size=kid_subset_size)
    return FIDResult(fid=frechet_distance(f_s, f_r), kid=kid, kid_std=kid_std, network=network.name)
