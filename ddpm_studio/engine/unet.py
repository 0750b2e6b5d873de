"""The noise-prediction network ε_θ(x_t, t): a UNet (Ronneberger et al. 2015) as in Ho et al. 2020, App. B.

Layout, for levels i = 0..L-1 with widths w_i = base · mult_i:

    x ─ conv3×3 ─┬ [block(w_i) ×n, linear-attn] ─ down ─ … ─ mid: block, full attention (SDPA), block
                 │            │ skip per block                            │
    out ← conv ← GN-SiLU ← [block(cat(h, skip)) ×n, linear-attn] ─ up ─ … ┘

Time t enters every block through a sinusoidal embedding + MLP (scale-shift for ResNet blocks, added
for ConvNeXt). A class-conditional network (`num_classes` = K > 0) adds a learned class embedding to the time
embedding (Ho & Salimans 2022, "Classifier-free diffusion guidance"; Dhariwal & Nichol 2021, App. B) with K + 1
rows: row K is "no class" (the null label ∅), so one network gives ε(x_t, t, c) and ε(x_t, t, ∅). It is called
`model(x_t, t, y)` with y (B,) in 0..K, or `model(x_t, t)` (y = None: every row ∅). With K = 0 nothing is added:
the parameters, their initialisation and every output are those of an unconditional network.

Non-leaky augmentation (Karras et al. 2022, EDM, App. C; `data/augment.py`): with `augment_dim` = D > 0 a linear
map without bias of the augmentation vector a (B, D) is added to the time embedding the same way (EDM's
`map_augment`), called `model(x_t, t, y, augment_labels=a)` in training. Sampling passes nothing, which is
a = 0, "not augmented": without a bias the map adds exactly zero, so a = 0 and no a give the same output bit
for bit, and with D = 0 the network is the one without it (old checkpoints load and sample unchanged).

With `learned_variance` the output has 2C channels: ε and the interpolation v of
Improved DDPM eq. (15). Parameter counts (`count_parameters`, RGB): "tiny" 852,451; "small" 8,026,627;
"ddpm128" 33,236,355 — the DDPM write-up's model with that shape had 32,009,619 (+3.8 %; its exact block
layout is not known to us; with two blocks per level ours has 51,259,395).

The forward pass is layout-agnostic; feeding channels_last input (`x.to(memory_format=torch.channels_last)`)
after `model.to(memory_format=torch.channels_last)` keeps every activation channels_last, which makes
the convolutions and the attention projections copy-free on CPU and on CUDA. It runs under
`torch.autocast` (bf16/fp16); the time embedding is computed in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import Attention, LinearAttention
from .blocks import Downsample, Upsample, _groups, make_block
from .embeddings import TimeEmbedding
from .unet_config import UNetConfig


class _Level(nn.Module):
    """One resolution of one path: n blocks, optional linear attention after the last, optional resampling."""

    def __init__(self, blocks: list[nn.Module], attn: nn.Module | None, resample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attn = attn if attn is not None else nn.Identity()
        self.resample = resample if resample is not None else nn.Identity()


class UNet(nn.Module):
    """ε_θ(x_t, t) for images (B, C, H, W) with H, W multiples of 2**(levels-1). Build from a `UNetConfig`."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        c = config
        widths = [c.base_channels * m for m in c.channel_mults]
        emb_dim = c.time_embed_dim

        def block(cin: int, cout: int) -> nn.Module:
            return make_block(c.block, cin, cout, emb_dim, groups=c.norm_groups, dropout=c.dropout,
                              convnext_mult=c.convnext_mult)

        def lin_attn(ch: int) -> nn.Module | None:
            if not c.linear_attention:
                return None
            return LinearAttention(ch, heads=c.attention_heads, head_dim=c.attention_head_dim, groups=c.norm_groups)

        self.time_embed = TimeEmbedding(c.base_channels, emb_dim)
        self.init_conv = nn.Conv2d(c.in_channels, widths[0], 3, padding=1)

        self.down = nn.ModuleList()
        skip_widths: list[int] = []
        ch = widths[0]
        for i, w in enumerate(widths):
            blocks = []
            for _ in range(c.num_res_blocks):
                blocks.append(block(ch, w))
                ch = w
                skip_widths.append(w)
            last = i == len(widths) - 1
            self.down.append(_Level(blocks, lin_attn(w), None if last else Downsample(w)))

        self.mid_block1 = block(ch, ch)
        self.mid_attn = (Attention(ch, heads=c.attention_heads, head_dim=c.attention_head_dim, groups=c.norm_groups)
                         if c.mid_attention else nn.Identity())
        self.mid_block2 = block(ch, ch)

        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            blocks = []
            for _ in range(c.num_res_blocks):
                blocks.append(block(ch + skip_widths.pop(), w))
                ch = w
            self.up.append(_Level(blocks, lin_attn(w), None if i == 0 else Upsample(w)))

        self.out_norm = nn.GroupNorm(_groups(c.norm_groups, ch), ch)
        self.out_conv = nn.Conv2d(ch, c.out_channels, 3, padding=1)
        # made last so the other layers' initial weights are those of the unconditional network
        self.class_embed = nn.Embedding(c.num_classes + 1, emb_dim) if c.num_classes else None
        # made after it (the same reason): EDM's map_augment, no bias so the zero vector adds exactly nothing
        self.augment_embed = nn.Linear(c.augment_dim, emb_dim, bias=False) if c.augment_dim else None

    @property
    def num_classes(self) -> int:
        """K: classes the network is conditioned on (0: unconditional); label K is "no class"."""
        return self.config.num_classes

    @property
    def augment_dim(self) -> int:
        """D: length of the augmentation vector the network is conditioned on (0: none)."""
        return self.config.augment_dim

    def _embedding(self, t: Tensor, y: Tensor | None, augment_labels: Tensor | None = None) -> Tensor:
        """SiLU(time embedding [+ class embedding] [+ augmentation map]) (B, E); y None or a conditional net's
        null row is ∅; augment_labels None is the zero vector (nothing added)."""
        emb = self.time_embed(t)
        if augment_labels is not None:
            if self.augment_embed is None:
                raise ValueError("this model was not trained with augmentation: it takes no augmentation labels")
            a = augment_labels.to(device=t.device, dtype=self.augment_embed.weight.dtype)
            emb = emb + self.augment_embed(a).to(emb.dtype)
        if self.class_embed is not None:
            if y is None:
                y = torch.full((t.shape[0],), self.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.class_embed(y.to(device=t.device, dtype=torch.long)).to(emb.dtype)
        elif y is not None:
            raise ValueError("this model is unconditional: it takes no class labels")
        return F.silu(emb)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None, augment_labels: Tensor | None = None) -> Tensor:
        """x (B, C, H, W) noisy images, t (B,) timesteps (long or float), y (B,) class labels in 0..K (K = "no
        class"; None: all K) for a conditional net, augment_labels (B, D) the augmentation of each x_0 (None: not
        augmented, as at sampling) -> (B, out_channels, H, W)."""
        self._check_input(x, t, y, augment_labels)
        emb = self._embedding(t, y, augment_labels)      # (B, E); every block projects SiLU(emb)
        h = self.init_conv(x)                            # (B, w_0, H, W)
        skips: list[Tensor] = []
        for level in self.down:
            for j, blk in enumerate(level.blocks):
                h = blk(h, emb)
                if j == len(level.blocks) - 1:
                    h = level.attn(h)
                skips.append(h)
            h = level.resample(h)

        h = self.mid_block2(self.mid_attn(self.mid_block1(h, emb)), emb)

        for level in self.up:
            for blk in level.blocks:
                h = blk(torch.cat([h, skips.pop()], dim=1), emb)
            h = level.resample(level.attn(h))
        return self.out_conv(F.silu(self.out_norm(h)))

    def _check_input(self, x: Tensor, t: Tensor, y: Tensor | None = None,
                     augment_labels: Tensor | None = None) -> None:
        """Concise errors instead of shape mismatches deep inside the network."""
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_channels:
            raise ValueError(f"expected x of shape (B, {c.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = c.size_multiple
        if h % m or w % m:
            raise ValueError(f"image size {h}x{w} is not divisible by {m} = 2**(levels-1) for "
                             f"{c.levels} levels; use a size that is a multiple of {m}")
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"expected t of shape ({x.shape[0]},), got {tuple(t.shape)}")
        if y is not None and (y.shape != t.shape or y.dtype.is_floating_point):
            raise ValueError(f"expected integer class labels y of shape ({x.shape[0]},), got {tuple(y.shape)}")
        if augment_labels is not None and c.augment_dim and tuple(augment_labels.shape) != (x.shape[0], c.augment_dim):
            raise ValueError(f"expected augmentation labels of shape ({x.shape[0]}, {c.augment_dim}), "
                             f"got {tuple(augment_labels.shape)}")


def build_unet(config: UNetConfig) -> UNet:
    """Construct a `UNet` from its configuration (validated; ValueError with a reason when invalid)."""
    return UNet(config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
