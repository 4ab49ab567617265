"""Masked gated CRF loss (Obukhov et al. 2019, Potts compatibility) as AttenScribble uses it.

    L = 1/|U| * sum_{i in U} sum_{j in W(i), j != i} k_ij * (1 - <p_i, p_j>)
    k_ij = exp(-d_ij^2 / (2 sigma_xy^2) - sum_ch (I_i - I_j)^2 / (2 sigma_int^2))

U holds the unannotated voxels (the destinations of the energy); annotated voxels still act as neighbours.
The kernel is constant and symmetric, so each unordered pair is visited once with the weight m_i + m_j
(m = unannotated mask). The forward pass accumulates the message M_i = sum_j w_ij p_j; it is both the gradient
(dE/dp_i = -M_i) and half the agreement term (E = sum w_ij - 1/2 sum_i <p_i, M_i>), so no kernel is stored
or recomputed and memory stays at one extra copy of the probability map.
"""
from __future__ import annotations

import torch

from .precision import at_least_float32
from .windows import half_window, iterate_pairs


def _pair_kernel(image: torch.Tensor, centre_weight: torch.Tensor, centre, neighbour, distance_sq: float,
                 sigma_xy: float, sigma_intensity: float) -> torch.Tensor:
    """k_ij for one offset times (m_i + m_j), the pair's weight in both directions: shape (B, *valid).
    In place after the first subtraction: one temporary per offset (the loop is memory-bound on a GPU)."""
    exponent = (image[centre] - image[neighbour]).square_().sum(1)
    exponent.mul_(-0.5 / sigma_intensity ** 2).sub_(distance_sq / (2.0 * sigma_xy ** 2)).exp_()
    return exponent.mul_(centre_weight[centre] + centre_weight[neighbour])


class _WindowedPottsEnergy(torch.autograd.Function):
    """sum over unordered window pairs of w_ij (1 - <p_i, p_j>), constant w; gradient w.r.t. p only.
    `offsets` holds one offset of each +/- pair."""

    @staticmethod
    def forward(ctx, probs, image, centre_weight, offsets, sigma_xy, sigma_intensity):
        message = torch.zeros_like(probs)
        total_weight = torch.zeros((), dtype=torch.float64, device=probs.device)
        for centre, neighbour, distance_sq in iterate_pairs(probs.shape[2:], offsets):
            kernel = _pair_kernel(image, centre_weight, centre, neighbour, distance_sq, sigma_xy,
                                  sigma_intensity).unsqueeze(1)
            total_weight += kernel.sum(dtype=torch.float64)
            message[centre].addcmul_(kernel, probs[neighbour])
            message[neighbour].addcmul_(kernel, probs[centre])
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
    weight = unannotated.to(probs.dtype)
    energy = _WindowedPottsEnergy.apply(probs, at_least_float32(image), weight, half_window(offsets), sigma_xy,
                                        sigma_intensity)
    return energy / weight.sum().clamp_min(1.0)
