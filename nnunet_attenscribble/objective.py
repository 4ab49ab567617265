"""The scribble-aware regularisers added to partial cross-entropy: masked gated CRF + attentive similarity.

Both act on the full-resolution output only (deep supervision applies to partial CE alone) and are computed
in float32 with autocast disabled, whatever precision the network ran in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from .crf_loss import masked_gated_crf_loss
from .intensity import rescale_to_unit_range
from .precision import at_least_float32
from .scribbles import multi_class_samples
from .similarity_loss import attentive_similarity_loss
from .network_surgery import ORIGINAL_TOKEN_STRIDE
from .windows import finest_inplane, window_offsets, window_radii


@dataclass(frozen=True)
class PairwiseTerm:
    """Weight, Gaussian sigma and window radius of one pairwise term, in its grid's length unit (CRF: finest
    in-plane voxels; similarity: tokens of the original's stride-4 grid)."""
    weight: float
    sigma: float
    radius: int


def split_network_output(output):
    """(segmentation output, attention tensors or None) from what the network returned in training mode."""
    if isinstance(output, tuple):
        return output[0], output[1:]
    return output, None


class ScribbleRegularizers:
    """Computes the weighted CRF and similarity terms of one training step."""

    def __init__(self, ignore_label: int, spacing: Sequence[float], crf: PairwiseTerm, crf_sigma_intensity: float,
                 similarity: PairwiseTerm, token_spacing: Optional[Sequence[float]], max_window_size: int):
        self.ignore_label = ignore_label
        self.crf = crf
        self.crf_sigma_intensity = crf_sigma_intensity
        self.similarity = similarity
        self.crf_offsets = window_offsets(window_radii(spacing, crf.radius, max_window_size), spacing)
        self.similarity_offsets = None
        if token_spacing is not None:
            # the original's window lives on a stride-4 token grid: a deeper stage gets the same physical extent
            unit = ORIGINAL_TOKEN_STRIDE * finest_inplane(spacing)
            radii = window_radii(token_spacing, similarity.radius, max_window_size, unit)
            self.similarity_offsets = window_offsets(radii, token_spacing, unit)

    def describe(self) -> str:
        """One line for the training log."""
        similarity_size = len(self.similarity_offsets) + 1 if self.similarity_offsets else 0
        return (f"AttenScribble objective: CRF weight {self.crf.weight} (window {len(self.crf_offsets) + 1} voxels, "
                f"sigma_xy {self.crf.sigma}, sigma_I {self.crf_sigma_intensity} on [0,1]-rescaled patches), "
                f"similarity weight {self.similarity.weight} (window {similarity_size} tokens, sigma "
                f"{self.similarity.sigma})")

    def __call__(self, data: torch.Tensor, segmentation, target, attention, crf_scale: float = 1.0) -> dict:
        """Weighted terms {'crf': ..., 'similarity': ...} (only the enabled ones), as float32 scalars; `crf_scale`
        multiplies the CRF weight (its ramp-up)."""
        logits = segmentation[0] if isinstance(segmentation, (list, tuple)) else segmentation
        scribbles = target[0] if isinstance(target, (list, tuple)) else target
        terms = {}
        with torch.autocast(device_type=logits.device.type, enabled=False):
            probs = torch.softmax(at_least_float32(logits), dim=1)
            if self.crf.weight > 0:
                unannotated = scribbles[:, 0] == self.ignore_label
                terms["crf"] = self.crf.weight * crf_scale * masked_gated_crf_loss(
                    probs, rescale_to_unit_range(data), unannotated, self.crf_offsets, self.crf.sigma,
                    self.crf_sigma_intensity)
            if self.similarity.weight > 0 and attention is not None:
                query, key, affine = attention
                terms["similarity"] = self.similarity.weight * attentive_similarity_loss(
                    query, key, probs, affine, multi_class_samples(scribbles, self.ignore_label),
                    self.similarity_offsets, self.similarity.sigma)
        return terms
