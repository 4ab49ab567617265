"""Class-balanced partial cross-entropy: each scribbled class of the batch weighs the same.

Plain partial CE averages over scribbled voxels, so a class annotated generously (background strokes over far
regions, or out-of-image padding supervised as background) outweighs the others in proportion to its voxel count;
with 99 % background among the annotated voxels a model learns "background everywhere" before anything else. Averaging
per class first, then over the classes present, makes the objective independent of how much of each class was
scribbled. A drop-in for nnU-Net's RobustCrossEntropyLoss (same call, same ignore label).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .precision import at_least_float32


class ClassBalancedPartialCrossEntropy(nn.Module):
    """Mean over the classes scribbled in the batch of each class's mean CE over its scribbled voxels."""

    def __init__(self, ignore_index: int):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == logits.ndim:  # (B, 1, *S) as nnU-Net passes it
            target = target[:, 0]
        target = target.long()
        annotated = target != self.ignore_index
        labels = target[annotated]
        voxel_loss = F.cross_entropy(at_least_float32(logits), torch.where(annotated, target, 0),
                                     reduction="none")[annotated]
        num_classes = logits.shape[1]
        sums = torch.zeros(num_classes, device=logits.device, dtype=voxel_loss.dtype).index_add_(0, labels, voxel_loss)
        counts = torch.bincount(labels, minlength=num_classes)
        present = counts > 0
        if not present.any():  # nothing scribbled at this (deep-supervision) scale: zero, graph kept
            return 0.0 * logits.sum()
        return (sums[present] / counts[present]).mean()
