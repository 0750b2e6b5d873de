"""Self-attention over the pixels of a feature map: linear attention at every level, full attention in the middle.

Both work on the (B, H·W, C) "tokens" view of the map. When the map is channels_last that view is free
(`x.permute(0, 2, 3, 1)` is contiguous), so the 1×1 projections are plain matmuls with no layout copies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import _groups


def _tokens(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H, W, C): a view for channels_last input, one copy otherwise."""
    return x.permute(0, 2, 3, 1)


def _untokens(y: Tensor) -> Tensor:
    """(B, H, W, C) contiguous -> (B, C, H, W) channels_last view."""
    return y.permute(0, 3, 1, 2)


class _HeadedAttention(nn.Module):
    """Shared layers of both attentions: pre-GroupNorm, a bias-free q/k/v projection, an output projection."""

    def __init__(self, ch: int, *, heads: int = 4, head_dim: int = 32, groups: int = 8) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        hidden = heads * head_dim
        self.norm = nn.GroupNorm(_groups(groups, ch), ch)
        self.to_qkv = nn.Linear(ch, 3 * hidden, bias=False)
        self.to_out = nn.Linear(hidden, ch)


class LinearAttention(_HeadedAttention):
    """Linear attention (Shen et al. 2021, "Efficient Attention"): softmax(q) over features, softmax(k) over pixels,

        C_j = softmax_n(k_j)ᵀ v_j  (d × d per head j);   y_n = Σ_j W_o,j C_jᵀ softmax_d(q_n,j) · d^(-1/2) + b_o,

    cost O(N·d²) instead of O(N²·d), so it runs at full resolution. Pre-GroupNorm, residual.
    Exact rearrangements keep it matmul-bound on CPU: the output projection is folded into the per-image
    context, M = [C_j W_o,jᵀ]_j (B, h·d, C), so y = softmax(q) · M is one batched matmul; k and v are
    projected feature-major, (B·h, d, N), so the context is one batched matmul over free views; and q, k,
    v are three separate tensors (no 3-way split, no large fresh allocation per step).
    """

    def __init__(self, ch: int, *, heads: int = 4, head_dim: int = 32, groups: int = 8) -> None:
        super().__init__(ch, heads=heads, head_dim=head_dim, groups=groups)
        self.scale = head_dim ** -0.5

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> same
        b, c, hh, ww = x.shape
        n, h, d = hh * ww, self.heads, self.head_dim
        tokens = _tokens(self.norm(x)).reshape(b, n, c)                            # (B, N, C)
        w_q, w_k, w_v = self.to_qkv.weight.chunk(3, dim=0)                         # (h·d, C) each
        q = F.linear(tokens, w_q).unflatten(-1, (h, d)).softmax(dim=-1).flatten(2)  # (B, N, h·d), softmax_d
        tokens_t = tokens.transpose(1, 2)                                          # (B, C, N) view
        k = torch.bmm(w_k.expand(b, -1, -1), tokens_t).view(b * h, d, n).softmax(dim=-1)  # (B·h, d, N)
        v = torch.bmm(w_v.expand(b, -1, -1), tokens_t).view(b * h, d, n)          # (B·h, e, N)
        context = torch.bmm(k, v.transpose(1, 2)).view(b, h, d, d)                 # (B, h, d, e)
        w_out = self.to_out.weight.t().reshape(h, d, c) * self.scale               # (h, e, C)
        m = torch.matmul(context, w_out).reshape(b, h * d, c)                      # (B, h·d, C)
        out = torch.baddbmm(self.to_out.bias, q, m)                                # (B, N, C)
        return x + _untokens(out.view(b, hh, ww, c))


class Attention(_HeadedAttention):
    """Multi-head softmax self-attention (Vaswani et al. 2017) via `F.scaled_dot_product_attention`.

    O(N²) in the number of pixels: used at the UNet's bottleneck. Pre-GroupNorm, residual.
    """

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> same
        b, c, hh, ww = x.shape
        n, h, d = hh * ww, self.heads, self.head_dim
        qkv = self.to_qkv(_tokens(self.norm(x))).reshape(b, n, 3 * h, d).transpose(1, 2)  # (B, 3h, N, d)
        q, k, v = qkv.chunk(3, dim=1)                                         # (B, h, N, d) each
        out = F.scaled_dot_product_attention(q, k, v)                        # (B, h, N, d)
        out = out.transpose(1, 2).reshape(b, hh, ww, h * d)                   # (B, H, W, h·d)
        return x + _untokens(self.to_out(out))
