"""Insert the attention block into the U-Net that nnU-Net builds from its plans.

The wrapper keeps the original `encoder` and `decoder` modules as attributes, so every parameter name of
the plain network is unchanged (only `attention.*` is added) and nnU-Net's `set_deep_supervision_enabled`
still finds `decoder.deep_supervision`. The block's output replaces encoder stage k's output everywhere:
it is the skip connection and the input of stage k + 1.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .attention_block import SpatialSelfAttentionBlock

ORIGINAL_TOKEN_STRIDE = 4  # the paper's block sits at 1/4 resolution (64x64 tokens for 256x256 slices)


def cumulative_strides(strides: Sequence) -> np.ndarray:
    """(stages, dims) cumulative stride of each encoder stage's output."""
    return np.cumprod(np.array([np.atleast_1d(s) for s in strides]), axis=0)


def default_attention_stage(strides: Sequence, patch_size: Sequence[int], max_tokens: int,
                            min_inplane_stride: int = ORIGINAL_TOKEN_STRIDE) -> int:
    """First encoder stage whose in-plane stride is >= `min_inplane_stride` and whose token count fits
    `max_tokens`; deeper stages are tried while the token count is too large (the deepest as a fallback).

    With the trainer's budget of 2048 tokens, 2D ACDC plans (256x224) give stage 3 (32x28 tokens; the original's
    stride-4 grid would be 64x56 = 3584 tokens) and hippocampus 3d_fullres plans stage 2 (10x14x10)."""
    strides_per_stage = cumulative_strides(strides)
    if strides_per_stage.shape[1] == 1:
        strides_per_stage = np.repeat(strides_per_stage, len(patch_size), axis=1)
    for stage, stride in enumerate(strides_per_stage):
        if min(stride[-2:]) < min_inplane_stride:
            continue
        tokens = math.prod(int(p) // int(s) for p, s in zip(patch_size, stride))
        if tokens <= max_tokens:
            return stage
    return len(strides_per_stage) - 1


def token_grid_spacing(spacing: Sequence[float], strides: Sequence, stage: int) -> list[float]:
    """Physical spacing of the token grid after encoder stage `stage`."""
    stride = cumulative_strides(strides)[stage]
    if stride.shape[0] == 1:
        stride = np.repeat(stride, len(spacing))
    return [float(s) * float(t) for s, t in zip(spacing, stride)]


class AttentionUNet(nn.Module):
    """A PlainConvUNet / ResidualEncoderUNet with the attention block after encoder stage `attention_stage`.

    Eval mode returns exactly what the plain network returns. Training mode with a similarity head returns
    (segmentation output, query map, key map, similarity affine) for the loss."""

    def __init__(self, unet: nn.Module, attention_stage: int, similarity_head: bool = True):
        super().__init__()
        self.encoder = unet.encoder
        self.decoder = unet.decoder
        self.attention_stage = attention_stage
        channels = self.encoder.output_channels[attention_stage]
        self.attention = SpatialSelfAttentionBlock(channels, self.encoder.conv_op, similarity_head=similarity_head)

    def forward(self, x: torch.Tensor):
        stem = getattr(self.encoder, "stem", None)
        if stem is not None:
            x = stem(x)
        skips = []
        query = key = None
        for index, stage in enumerate(self.encoder.stages):
            x = stage(x)
            if index == self.attention_stage:
                x, query, key = self.attention(x)
            skips.append(x)
        output = self.decoder(skips)
        if self.training and self.attention.similarity_affine is not None:
            return output, query, key, self.attention.similarity_affine * 1.0
        return output


def add_attention_block(unet: nn.Module, patch_size: Sequence[int], attention_stage: Optional[int],
                        max_tokens: int, similarity_head: bool) -> AttentionUNet:
    """Wrap an nnU-Net U-Net; `attention_stage=None` applies `default_attention_stage`."""
    if not hasattr(unet, "encoder") or not hasattr(unet.encoder, "stages"):
        raise TypeError(f"{type(unet).__name__} has no encoder.stages; AttenScribble supports the U-Nets of "
                        f"dynamic-network-architectures (PlainConvUNet, ResidualEncoderUNet)")
    if attention_stage is None:
        attention_stage = default_attention_stage(unet.encoder.strides, patch_size, max_tokens)
    if not 0 <= attention_stage < len(unet.encoder.stages):
        raise ValueError(f"attention_stage {attention_stage} outside 0..{len(unet.encoder.stages) - 1}")
    return AttentionUNet(unet, attention_stage, similarity_head)
