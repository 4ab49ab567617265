"""Slow, obviously-correct reference implementations (explicit loops, dense N x N) for tiny tensors."""
import itertools
import math

import torch
import torch.nn.functional as F


def _positions(shape):
    return list(itertools.product(*[range(s) for s in shape]))


def _in_window(a, b, radii):
    return a != b and all(abs(x - y) <= r for x, y, r in zip(a, b, radii))


def _distance_sq(a, b, spacing):
    unit = min(spacing[-2:])
    return sum(((x - y) * s / unit) ** 2 for x, y, s in zip(a, b, spacing))


def crf_loss_reference(probs, image, unannotated, radii, spacing, sigma_xy, sigma_intensity):
    """L = 1/|U| sum_{i in U} sum_{j in W(i)} k_ij (1 - <p_i, p_j>), by explicit loops over voxel pairs."""
    batch, _, *shape = probs.shape
    total = probs.new_zeros(())
    for b in range(batch):
        for i in _positions(shape):
            if not unannotated[(b, *i)]:
                continue
            for j in _positions(shape):
                if not _in_window(i, j, radii):
                    continue
                intensity = sum((image[(b, c, *i)] - image[(b, c, *j)]) ** 2 for c in range(image.shape[1]))
                kernel = torch.exp(-_distance_sq(i, j, spacing) / (2 * sigma_xy ** 2)
                                   - intensity / (2 * sigma_intensity ** 2))
                total = total + kernel * (1 - (probs[(b, slice(None), *i)] * probs[(b, slice(None), *j)]).sum())
    return total / max(int(unannotated.sum()), 1)


def similarity_loss_reference(query, key, probs, affine, sample_weight, radii, spacing, sigma):
    """The attentive similarity loss from the dense N x N attention matrix, as the original computes it."""
    batch, _, *grid = query.shape
    n = math.prod(grid)
    q = query.flatten(2).transpose(1, 2)
    k = key.flatten(2).transpose(1, 2)
    attention = torch.softmax(q @ k.transpose(1, 2), dim=-1)
    similarity = attention + attention.transpose(1, 2)
    kernel = torch.sigmoid(affine[0] * similarity + affine[1])
    positions = _positions(grid)
    gate = torch.zeros(n, n, dtype=query.dtype)
    for a, pa in enumerate(positions):
        for c, pc in enumerate(positions):
            if _in_window(pa, pc, radii):
                gate[a, c] = math.exp(-_distance_sq(pa, pc, spacing) / (2 * sigma ** 2))
    mode = "bilinear" if len(grid) == 2 else "trilinear"
    y = F.interpolate(probs, size=tuple(grid), mode=mode, align_corners=False).flatten(2).transpose(1, 2)
    disagreement = 1 - y @ y.transpose(1, 2)
    per_sample = (kernel * gate * disagreement).sum(dim=(1, 2))
    return (sample_weight * per_sample).sum() / (batch * n)


def class_balanced_partial_ce_reference(logits, target, ignore_index):
    """Per class present among the scribbled voxels: mean of -log softmax at its voxels, one voxel at a time;
    then the mean over those classes."""
    per_class = {}
    log_probs = torch.log_softmax(logits, dim=1)
    for position in itertools.product(*(range(s) for s in target.shape)):
        label = int(target[position])
        if label == ignore_index:
            continue
        batch, *spatial = position
        per_class.setdefault(label, []).append(-log_probs[(batch, label, *spatial)])
    return sum(sum(values) / len(values) for values in per_class.values()) / len(per_class)


def partial_ce_dice_reference(logits, target, ignore_index, batch_dice, dice_weight, smooth=1e-5):
    """nnU-Net's ignore-label loss, one voxel at a time: mean -log softmax over scribbled voxels, minus
    dice_weight x the mean soft Dice of the foreground classes over those voxels (per sample, or over the batch)."""
    probs = torch.softmax(logits, dim=1)
    log_probs = torch.log_softmax(logits, dim=1)
    classes = logits.shape[1]
    samples = 1 if batch_dice else target.shape[0]
    sums = {key: [[0.0] * classes for _ in range(samples)] for key in ("intersect", "pred", "gt")}
    ce, scribbled = 0.0, 0
    for position in itertools.product(*(range(s) for s in target.shape)):
        label = int(target[position])
        if label == ignore_index:
            continue
        batch, *spatial = position
        ce, scribbled = ce - log_probs[(batch, label, *spatial)], scribbled + 1
        sample = 0 if batch_dice else batch
        for c in range(1, classes):
            p = probs[(batch, c, *spatial)]
            sums["pred"][sample][c] += p
            sums["gt"][sample][c] += float(label == c)
            sums["intersect"][sample][c] += p * float(label == c)
    dice = [(2 * sums["intersect"][s][c] + smooth) / (sums["gt"][s][c] + sums["pred"][s][c] + smooth)
            for s in range(samples) for c in range(1, classes)]
    return ce / scribbled - dice_weight * sum(dice) / len(dice)
