"""Attentive similarity loss: a Potts energy whose pairwise kernel is the learned attention similarity.

    P = softmax_rows(q k^T)            (unscaled logits, over all keys)
    S_ij = P_ij + P_ji ;  S^_ij = sigmoid(alpha * S_ij + beta)
    L = 1/(B N) sum_b e_b sum_i sum_{j in W(i), j != i} S^_ij G_ij (1 - <Y_i, Y_j>)

Y is the softmax prediction resized to the token grid, G a spatial Gaussian window and e_b excludes samples
whose scribbles hold a single class. Only window pairs are needed, so the N x N matrix is never kept: one
custom autograd function runs over row chunks of q k^T, taking each row's log-sum-exp and gathering its
window logits (B, N, F) with a neighbour index table; its backward recomputes each chunk once. Every factor is
symmetric in (i, j), so each unordered pair is evaluated once (half window) and counted twice.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .precision import at_least_float32
from .windows import half_window


class _WindowLogitsAndRowLogSumExp(torch.autograd.Function):
    """For (B, N, d) queries and keys and an (N, F) neighbour index: the window logits q_i . k_index[i, f]
    (B, N, F) and the row log-sum-exp over all keys (B, N), in O(N * chunk) memory."""

    @staticmethod
    def forward(ctx, query, key, index, chunk_size):
        batch = query.shape[0]
        windows, row_lse = [], []
        for start in range(0, query.shape[1], chunk_size):
            rows = slice(start, start + chunk_size)
            logits = query[:, rows] @ key.transpose(1, 2)
            row_lse.append(torch.logsumexp(logits, dim=-1))
            windows.append(torch.gather(logits, 2, index[rows].expand(batch, -1, -1)))
        lse = torch.cat(row_lse, dim=1)
        ctx.save_for_backward(query, key, index, lse)
        ctx.chunk_size = chunk_size
        return torch.cat(windows, dim=1), lse

    @staticmethod
    def backward(ctx, grad_windows, grad_lse):
        query, key, index, lse = ctx.saved_tensors
        batch = query.shape[0]
        grad_query = torch.empty_like(query)
        grad_key = torch.zeros_like(key)
        for start in range(0, query.shape[1], ctx.chunk_size):
            rows = slice(start, start + ctx.chunk_size)
            grad_logits = torch.exp(query[:, rows] @ key.transpose(1, 2) - lse[:, rows, None])
            grad_logits *= grad_lse[:, rows, None]
            grad_logits.scatter_add_(2, index[rows].expand(batch, -1, -1), grad_windows[:, rows])
            grad_query[:, rows] = grad_logits @ key
            grad_key += grad_logits.transpose(1, 2) @ query[:, rows]
        return grad_query, grad_key, None, None


def window_logits_and_row_logsumexp(query: torch.Tensor, key: torch.Tensor, index: torch.Tensor,
                                    chunk_size: int = 1024):
    """((B, N, F) logits q_i . k_j for j = index[i, f], (B, N) logsumexp_j q_i . k_j) of (B, N, d) inputs."""
    return _WindowLogitsAndRowLogSumExp.apply(query, key, index, chunk_size)


@lru_cache(maxsize=16)
def window_tables(grid: tuple, offsets: tuple, device: torch.device = torch.device("cpu")):
    """Index tables of a window on a token grid (cached per grid, window and device).

    Returns (neighbour (N, F): flat index of token i + offset f, itself where that leaves the grid; half: the
    positions f of one offset of each +/- pair; mirror: the position of -offset for each of them;
    valid (N, len(half)): whether the pair exists; distance_sq (len(half),))."""
    coordinates = torch.stack(torch.meshgrid(*[torch.arange(s) for s in grid], indexing="ij")).flatten(1)
    steps = torch.tensor([offset for offset, _ in offsets]).view(len(offsets), len(grid), 1)
    moved = coordinates.unsqueeze(0) + steps                                   # (F, dims, N)
    size = torch.tensor(grid).view(1, -1, 1)
    inside = ((moved >= 0) & (moved < size)).all(1)                            # (F, N)
    strides = torch.tensor([math.prod(grid[axis + 1:]) for axis in range(len(grid))]).view(1, -1, 1)
    flat = (moved * strides).sum(1)
    own = torch.arange(coordinates.shape[1]).expand_as(flat)
    neighbour = torch.where(inside, flat, own).T.contiguous()
    position = {offset: f for f, (offset, _) in enumerate(offsets)}
    half = [position[offset] for offset, _ in half_window(list(offsets))]
    mirror = [position[tuple(-o for o in offsets[f][0])] for f in half]
    distance_sq = torch.tensor([offsets[f][1] for f in half])
    tables = neighbour, torch.tensor(half), torch.tensor(mirror), inside.T[:, half].contiguous(), distance_sq
    return tuple(t.to(device) for t in tables)


def gather_columns(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[:, index] for a (B, M, ...) tensor and an integer index of any shape: (B, *index.shape, ...)."""
    picked = torch.index_select(values, 1, index.flatten())
    return picked.view(values.shape[0], *index.shape, *values.shape[2:])


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
    `windows.window_offsets`; sigma: spatial Gaussian in the offsets' distance unit."""
    grid = tuple(query.shape[2:])
    batch, tokens = query.shape[0], math.prod(grid)
    neighbour, half, mirror, valid, distance_sq = window_tables(grid, tuple(offsets), query.device)
    query, key = at_least_float32(query), at_least_float32(key)
    logits, lse = window_logits_and_row_logsumexp(query.flatten(2).transpose(1, 2), key.flatten(2).transpose(1, 2),
                                                  neighbour, chunk_size)
    attention = torch.exp(logits - lse.unsqueeze(-1))                        # P_ij, j = neighbour[i, f]
    half_neighbour = neighbour[:, half]                                       # (N, H)
    # gathers through index_select: its backward is an index_add, not advanced indexing's sorting index_put
    reverse = gather_columns(attention.flatten(1), half_neighbour * len(offsets) + mirror)  # P_ji
    similarity = torch.index_select(attention, 2, half) + reverse
    alpha, beta = at_least_float32(similarity_affine)
    kernel = torch.sigmoid(alpha * similarity + beta)
    # the pair (i, j) and (j, i): twice the Gaussian gate
    gate = 2.0 * torch.exp(distance_sq.to(kernel.dtype) / (-2.0 * sigma ** 2)) * valid.to(kernel.dtype)
    grid_probs = resize_to_grid(at_least_float32(probs), grid).flatten(2).transpose(1, 2)  # (B, N, C)
    agreement = (grid_probs.unsqueeze(2) * gather_columns(grid_probs, half_neighbour)).sum(-1)  # (B, N, H)
    per_sample = (gate * kernel * (1.0 - agreement)).flatten(1).sum(1)
    return (sample_weight.to(per_sample.dtype) * per_sample).sum() / (batch * tokens)
