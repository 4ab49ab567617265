"""Intensity scale for the CRF kernel.

The original CRF bandwidth (sigma 0.1) assumes images clipped at their 99th percentile and min-max scaled
to [0, 1]. nnU-Net feeds z-scored (and augmented) patches, so each patch and channel is mapped back to that
scale before the kernel is built; the network input itself is left untouched.
"""
import torch

from .precision import at_least_float32


def rescale_to_unit_range(image: torch.Tensor, upper_percentile: float = 99.0) -> torch.Tensor:
    """Per sample and channel: clip at the given percentile, then min-max scale to [0, 1] (constant -> 0)."""
    flat = at_least_float32(image.detach()).flatten(2)
    count = flat.shape[-1]
    rank = min(count, max(1, int(round(upper_percentile / 100.0 * count))))
    upper = flat.kthvalue(rank, dim=-1).values.unsqueeze(-1)
    clipped = torch.minimum(flat, upper)
    lower = clipped.amin(dim=-1, keepdim=True)
    scaled = (clipped - lower) / (upper - lower).clamp_min(1e-8)
    return scaled.reshape(image.shape)
