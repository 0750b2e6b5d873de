"""FID and KID formulas, and a feature network loaded from a local TorchScript file (built here, never downloaded)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ddpm_studio.evaluation.fid import FeatureNetwork, fid_kid, frechet_distance, kernel_distance, load_feature_network


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_frechet_distance_matches_the_closed_form():
    a = torch.randn(400, 5, generator=gen(0), dtype=torch.float64)
    b = torch.randn(300, 5, generator=gen(1), dtype=torch.float64) @ torch.randn(5, 5, generator=gen(2),
                                                                                   dtype=torch.float64) + 2.0
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    eig = torch.linalg.eigvals(s_a @ s_b)  # Tr sqrt(Σ_a Σ_b) = Σ sqrt(λ_i), λ_i >= 0
    expected = (mu_a - mu_b).square().sum() + s_a.trace() + s_b.trace() - 2 * eig.sqrt().real.sum()
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-8)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    a = torch.randn(600, 16, generator=gen(0))
    b = torch.randn(600, 16, generator=gen(1))
    same, _ = kernel_distance(a, b, generator=gen(), subsets=20, subset_size=300)
    shifted, _ = kernel_distance(a, b + 0.5, generator=gen(), subsets=20, subset_size=300)
    assert abs(same) < 0.01 and shifted > 0.1


class TinyFeatures(nn.Module):
    """A small conv net standing in for Inception (fixed random weights)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                                 nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x / 255.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch >= 2.10 deprecates TorchScript
def test_fid_from_a_local_torchscript_file(tmp_path, shapes, noise_like):
    path = tmp_path / "features.pt"
    torch.jit.trace(TinyFeatures().eval(), torch.zeros(1, 3, 32, 32)).save(str(path))
    network = load_feature_network(path, input_size=32)
    assert isinstance(network, FeatureNetwork) and network.name == "features.pt"
    reference, other = shapes[:128], shapes[512:576]
    real = fid_kid(other, reference, network, generator=gen(), kid_subsets=10, kid_subset_size=64)
    noise = fid_kid(noise_like(other), reference, network, generator=gen(), kid_subsets=10, kid_subset_size=64)
    assert noise.fid > 10 * real.fid and noise.kid > 5 * abs(real.kid)
    gray = network.features(other[:4, :1])
    assert gray.shape == (4, 64)


def test_missing_or_foreign_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no feature network"):
        load_feature_network(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="TorchScript"):
        load_feature_network(junk)


def test_a_torch_export_archive_loads_too(tmp_path, shapes):
    path = tmp_path / "features.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(TinyFeatures().eval(), (torch.zeros(4, 3, 32, 32),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    network = load_feature_network(path, input_size=32)
    assert network.features(shapes[:70]).shape == (70, 64)  # batches of 64 and 6
