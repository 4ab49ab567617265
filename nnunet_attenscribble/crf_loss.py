"""Masked gated CRF loss (Obukhov et al. 2019, Potts compatibility) as AttenScribble uses it.

    L = 1/|U| * sum_{i in U} sum_{j in W(i), j != i} k_ij * (1 - <p_i, p_j>)
    k_ij = exp(-d_ij^2 / (2 sigma_xy^2) - sum_ch (I_i - I_j)^2 / (2 sigma_int^2))

U holds the unannotated voxels (the destinations of the energy); annotated voxels still act as neighbours.
The kernel is constant and symmetric, so each unordered pair is visited once with the weight m_i + m_j
(m = unannotated mask). The forward pass accumulates the message M_i = sum_j w_ij p_j; it is both the gradient
(dE/dp_i = -M_i) and half the agreement term (E = sum w_ij - 1/2 sum_i <p_i, M_i>), so no kernel is stored
or recomputed and memory stays at one extra copy of the probability map. On a GPU the loop is memory-bound:
each offset makes one temporary, and the spatial factor rides on addcmul's scalar.
"""
from __future__ import annotations

import math

import torch

from .precision import at_least_float32
from .windows import half_window, iterate_pairs


def _pair_kernel(scaled_image: torch.Tensor, centre_weight: torch.Tensor, centre, neighbour) -> torch.Tensor:
    """exp(-|I_i - I_j|^2 / (2 sigma_int^2)) (m_i + m_j) for one offset, from the image already divided by
    sqrt(2) sigma_int: shape (B, 1, *valid)."""
    kernel = (scaled_image[centre] - scaled_image[neighbour]).square_().sum(1, keepdim=True)
    return kernel.neg_().exp_().mul_(centre_weight[centre] + centre_weight[neighbour])


class _WindowedPottsEnergy(torch.autograd.Function):
    """sum over unordered window pairs of w_ij (1 - <p_i, p_j>), constant w; gradient w.r.t. p only.
    `offsets` holds one offset of each +/- pair."""

    @staticmethod
    def forward(ctx, probs, image, centre_weight, offsets, sigma_xy, sigma_intensity):
        message = torch.zeros_like(probs)
        scaled_image = image * (1.0 / (math.sqrt(2.0) * sigma_intensity))
        total_weight = torch.zeros((), dtype=torch.float64, device=probs.device)
        for centre, neighbour, distance_sq in iterate_pairs(probs.shape[2:], offsets):
            kernel = _pair_kernel(scaled_image, centre_weight, centre, neighbour)
            spatial = math.exp(-distance_sq / (2.0 * sigma_xy ** 2))
            total_weight += spatial * kernel.sum(dtype=torch.float64)
            message[centre].addcmul_(kernel, probs[neighbour], value=spatial)
            message[neighbour].addcmul_(kernel, probs[centre], value=spatial)
        ctx.save_for_backward(message)
        agreement = (probs * message).sum(dtype=torch.float64)
        return (total_weight - 0.5 * agreement).to(probs.dtype)

    @staticmethod
    def backward(ctx, grad_energy):
        message, = ctx.saved_tensors
        return -message * grad_energy, None, None, None, None, None


def masked_gated_crf_loss(probs: torch.Tensor, image: torch.Tensor, unannotated: torch.Tensor,
                          offsets, sigma_xy: float = 6.0, sigma_intensity: float = 0.1) -> torch.Tensor:
    """Masked gated CRF loss.

    probs: (B, C, *S) softmax probabilities; image: (B, Cin, *S) intensities on the scale sigma_intensity
    refers to; unannotated: (B, *S) bool, True where the voxel carries no scribble; offsets: from
    `windows.window_offsets`. Normalised by the number of unannotated voxels in the batch (at least 1)."""
    probs = at_least_float32(probs)
    weight = unannotated.unsqueeze(1).to(probs.dtype)  # (B, 1, *S), broadcasting over classes
    energy = _WindowedPottsEnergy.apply(probs, at_least_float32(image), weight, half_window(offsets), sigma_xy,
                                        sigma_intensity)
    return energy / weight.sum().clamp_min(1.0)
