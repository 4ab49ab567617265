"""Spatial self-attention block of AttenScribble, for 2D and 3D feature maps.

One SegFormer-style transformer layer on the flattened tokens (single head, no positional encoding, a
depthwise convolution inside the MLP) followed by a LayerNorm. Besides the mixed features it returns the
query and key maps, from which the attentive similarity loss builds its kernel, and carries the learnable
scalar affine (alpha, beta) of the similarity head.
"""
from __future__ import annotations

from typing import Type

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd


def depthwise_conv3d_by_planes(x: torch.Tensor, weight: torch.Tensor, bias, padding: int) -> torch.Tensor:
    """F.conv3d(x, weight, bias, padding=padding, groups=channels) for a depthwise, cubic, odd kernel with 'same'
    padding, as a sum of depthwise 2D convolutions over depth-shifted planes."""
    batch, channels, depth, height, width = x.shape
    taps = weight.shape[2]
    planes = F.pad(x, (0, 0, 0, 0, taps // 2, taps // 2)).transpose(1, 2).contiguous()  # (B, D + k - 1, C, H, W)
    out = None
    for tap in range(taps):
        window = planes[:, tap:tap + depth].reshape(batch * depth, channels, height, width)
        term = F.conv2d(window, weight[:, :, tap], bias if tap == 0 else None, padding=padding, groups=channels)
        out = term if out is None else out + term
    return out.view(batch, depth, channels, height, width).transpose(1, 2)


class DepthwiseConv3dByPlanes(nn.Conv3d):
    """The Mix-FFN's depthwise 3D convolution (cubic odd kernel, stride 1, 'same' padding). On CUDA it runs as 2D
    convolutions over depth-shifted planes: in half precision cuDNN's grouped 3D weight gradient launched one
    kernel per channel (512 per step on hippocampus plans, H100). Same parameters and result as nn.Conv3d."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int, padding: int, groups: int):
        if not channels == out_channels == groups or padding != kernel_size // 2 or kernel_size % 2 == 0:
            raise ValueError("DepthwiseConv3dByPlanes: depthwise, odd kernel, 'same' padding only")
        super().__init__(channels, channels, kernel_size, padding=padding, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_cuda:  # on CPU the direct convolution is the faster one
            return super().forward(x)
        return depthwise_conv3d_by_planes(x, self.weight, self.bias, self.padding[1])


def initialise_depthwise_as_segformer(conv: _ConvNd) -> None:
    """Normal(0, sqrt(2 / fan_out)) weights and zero bias, fan_out = kernel volume x out_channels / groups: the
    authors' (SegFormer's) init of the Mix-FFN convolution. For the depthwise 3x3 kernel std = sqrt(2/9) = 0.47
    (2D) or sqrt(2/27) = 0.27 (3D), several times torch's default (uniform with std 1/sqrt(3 fan_in) = 0.19/0.11),
    so the convolution, which carries the block's only positional signal, starts with a stronger say."""
    fan_out = conv.weight[0].numel() * conv.out_channels // conv.groups
    nn.init.normal_(conv.weight, mean=0.0, std=(2.0 / fan_out) ** 0.5)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class SpatialSelfAttentionBlock(nn.Module):
    """x <- x + Attn(LN1(x)); x <- x + MixFFN(LN2(x)); out = LN3(x), on a (B, C, *grid) map."""

    def __init__(self, channels: int, conv_op: Type[_ConvNd], mlp_ratio: int = 4, similarity_head: bool = True):
        super().__init__()
        hidden = channels * mlp_ratio
        self.norm_attention = nn.LayerNorm(channels)
        self.query = nn.Linear(channels, channels, bias=False)
        self.key = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.projection = nn.Linear(channels, channels)
        self.norm_mlp = nn.LayerNorm(channels)
        self.mlp_in = nn.Linear(channels, hidden)
        depthwise_op = DepthwiseConv3dByPlanes if issubclass(conv_op, nn.Conv3d) else conv_op
        self.mlp_depthwise = depthwise_op(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.mlp_out = nn.Linear(hidden, channels)
        self.norm_out = nn.LayerNorm(channels)
        for linear in (self.query, self.key, self.value, self.projection, self.mlp_in, self.mlp_out):
            nn.init.trunc_normal_(linear.weight, std=0.02)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
        initialise_depthwise_as_segformer(self.mlp_depthwise)
        # alpha, beta of the similarity head; the original is a 1x1 conv with PyTorch's default init: U(-1, 1)
        self.similarity_affine = nn.Parameter(torch.empty(2).uniform_(-1.0, 1.0)) if similarity_head else None

    def forward(self, x: torch.Tensor):
        """Returns (mixed map, query map, key map); query/key are (B, C, *grid)."""
        batch, channels, *grid = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        normed = self.norm_attention(tokens)
        query, key, value = self.query(normed), self.key(normed), self.value(normed)
        mixed = F.scaled_dot_product_attention(query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)).squeeze(1)
        tokens = tokens + self.projection(mixed)
        hidden = self.mlp_in(self.norm_mlp(tokens))
        hidden = self.mlp_depthwise(hidden.transpose(1, 2).reshape(batch, -1, *grid)).flatten(2).transpose(1, 2)
        tokens = tokens + self.mlp_out(F.gelu(hidden))
        out = self.norm_out(tokens).transpose(1, 2).reshape(batch, channels, *grid)

        def as_map(t):
            return t.transpose(1, 2).reshape(batch, channels, *grid)

        return out, as_map(query), as_map(key)
