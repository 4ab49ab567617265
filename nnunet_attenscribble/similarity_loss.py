"""Attentive similarity loss: a Potts energy whose pairwise kernel is the learned attention similarity.

    P = softmax_rows(q k^T)            (unscaled logits, over all keys)
    S_ij = P_ij + P_ji ;  S^_ij = sigmoid(alpha * S_ij + beta)
    L = 1/(B N) sum_b e_b sum_i sum_{j in W(i), j != i} S^_ij G_ij (1 - <Y_i, Y_j>)

Y is the softmax prediction resized to the token grid, G a spatial Gaussian window and e_b excludes samples
whose scribbles hold a single class. Only window pairs are needed, so the N x N matrix is never built: the row
log-sum-exp runs in chunks, and the pair logits q_i.k_j, q_j.k_i of every window offset are gathered into
(B, 2, offsets, *grid) tensors; both are custom autograd functions that accumulate gradients in place. Every
factor is symmetric in (i, j), so each unordered pair is computed once and counted twice.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .precision import at_least_float32
from .windows import half_window, iterate_pairs


class _ChunkedRowLogSumExp(torch.autograd.Function):
    """logsumexp_j (q_i . k_j) for every row i, O(N * chunk) memory in forward and backward."""

    @staticmethod
    def forward(ctx, query, key, chunk_size):
        rows = [torch.logsumexp(query[:, start:start + chunk_size] @ key.transpose(1, 2), dim=-1)
                for start in range(0, query.shape[1], chunk_size)]
        lse = torch.cat(rows, dim=1)
        ctx.save_for_backward(query, key, lse)
        ctx.chunk_size = chunk_size
        return lse

    @staticmethod
    def backward(ctx, grad_lse):
        query, key, lse = ctx.saved_tensors
        grad_query = torch.empty_like(query)
        grad_key = torch.zeros_like(key)
        for start in range(0, query.shape[1], ctx.chunk_size):
            rows = slice(start, start + ctx.chunk_size)
            weights = torch.exp(query[:, rows] @ key.transpose(1, 2) - lse[:, rows, None])
            weights = weights * grad_lse[:, rows, None]
            grad_query[:, rows] = weights @ key
            grad_key += weights.transpose(1, 2) @ query[:, rows]
        return grad_query, grad_key, None


def row_logsumexp(query: torch.Tensor, key: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """(B, N) row log-sum-exp of the unscaled attention logits q k^T for (B, N, d) queries and keys."""
    return _ChunkedRowLogSumExp.apply(query, key, chunk_size)


class _WindowPairLogits(torch.autograd.Function):
    """(B, 2, P, *grid): [:, 0, p, i] = q_i . k_{i+d_p} and [:, 1, p, i] = q_{i+d_p} . k_i (0 where i + d_p
    leaves the grid), for (B, d, *grid) query and key maps and the pair slices of P offsets."""

    @staticmethod
    def forward(ctx, query, key, pairs):
        batch, _, *grid = query.shape
        logits = query.new_zeros(batch, 2, len(pairs), *grid)
        for index, (centre, neighbour, _) in enumerate(pairs):
            logits[:, 0, index][centre] = (query[centre] * key[neighbour]).sum(1)
            logits[:, 1, index][centre] = (query[neighbour] * key[centre]).sum(1)
        ctx.save_for_backward(query, key)
        ctx.pairs = pairs
        return logits

    @staticmethod
    def backward(ctx, grad):
        query, key = ctx.saved_tensors
        grad_query, grad_key = torch.zeros_like(query), torch.zeros_like(key)
        for index, (centre, neighbour, _) in enumerate(ctx.pairs):
            forward = grad[:, 0, index][centre].unsqueeze(1)
            grad_query[centre] += forward * key[neighbour]
            grad_key[neighbour] += forward * query[centre]
            backward = grad[:, 1, index][centre].unsqueeze(1)
            grad_query[neighbour] += backward * key[centre]
            grad_key[centre] += backward * query[neighbour]
        return grad_query, grad_key, None


class _NeighbourGather(torch.autograd.Function):
    """(B, C, *grid) -> (B, C, P, *grid) holding x_{i+d_p} at i (0 where i + d_p leaves the grid)."""

    @staticmethod
    def forward(ctx, values, pairs):
        batch, channels, *grid = values.shape
        gathered = values.new_zeros(batch, channels, len(pairs), *grid)
        for index, (centre, neighbour, _) in enumerate(pairs):
            gathered[:, :, index][centre] = values[neighbour]
        ctx.pairs = pairs
        return gathered

    @staticmethod
    def backward(ctx, grad):
        batch, channels, _, *grid = grad.shape
        grad_values = grad.new_zeros(batch, channels, *grid)
        for index, (centre, neighbour, _) in enumerate(ctx.pairs):
            grad_values[neighbour] += grad[:, :, index][centre]
        return grad_values, None


def resize_to_grid(probs: torch.Tensor, grid) -> torch.Tensor:
    """Bilinear (2D) or trilinear (3D) resize of (B, C, *S) probabilities to the token grid."""
    if tuple(probs.shape[2:]) == tuple(grid):
        return probs
    mode = "bilinear" if len(grid) == 2 else "trilinear"
    return F.interpolate(probs, size=tuple(grid), mode=mode, align_corners=False)


def attentive_similarity_loss(query: torch.Tensor, key: torch.Tensor, probs: torch.Tensor,
                              similarity_affine: torch.Tensor, sample_weight: torch.Tensor, offsets,
                              sigma: float = 6.0, chunk_size: int = 1024) -> torch.Tensor:
    """Attentive similarity loss.

    query, key: (B, d, *grid) attention projections; probs: (B, C, *S) full-resolution softmax;
    similarity_affine: (2,) tensor (alpha, beta); sample_weight: (B,) e_b; offsets: token-grid window from
    `windows.window_offsets`; sigma: spatial Gaussian in finest in-plane token units."""
    grid = query.shape[2:]
    batch = query.shape[0]
    tokens = math.prod(grid)
    query, key = at_least_float32(query), at_least_float32(key)
    pairs = list(iterate_pairs(grid, half_window(offsets)))
    shape = (1, len(pairs)) + (1,) * len(grid)
    valid = query.new_zeros(len(pairs), *grid)
    for index, (centre, _, _) in enumerate(pairs):
        valid[index][centre] = 1.0
    # the pair (i, j) and (j, i): twice the Gaussian gate
    gate = torch.tensor([2.0 * math.exp(-d / (2.0 * sigma ** 2)) for _, _, d in pairs], dtype=query.dtype,
                        device=query.device).view(shape) * valid.unsqueeze(0)

    lse = row_logsumexp(query.flatten(2).transpose(1, 2), key.flatten(2).transpose(1, 2), chunk_size)
    lse = lse.view(batch, 1, *grid)
    logits = _WindowPairLogits.apply(query, key, pairs)
    neighbour_lse = _NeighbourGather.apply(lse, pairs)[:, 0]
    similarity = torch.exp(logits[:, 0] - lse) + torch.exp(logits[:, 1] - neighbour_lse)
    alpha, beta = at_least_float32(similarity_affine)
    kernel = torch.sigmoid(alpha * similarity + beta)
    grid_probs = resize_to_grid(at_least_float32(probs), grid)
    agreement = (grid_probs.unsqueeze(2) * _NeighbourGather.apply(grid_probs, pairs)).sum(1)
    per_sample = (gate * kernel * (1.0 - agreement)).flatten(1).sum(1)
    return (sample_weight.to(per_sample.dtype) * per_sample).sum() / (batch * tokens)
