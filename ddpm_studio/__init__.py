"""DDPM Studio: a desktop workbench for denoising diffusion models (Ho et al. 2020)."""

__version__ = "0.1.0"
