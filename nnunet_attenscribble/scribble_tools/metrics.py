"""Dice, HD95 and ASSD in mm for one class of one volume (surface distances with the real spacing).

An empty prediction of a present class (or a prediction of an absent class) scores Dice 0 and the volume's
diagonal in mm as HD95/ASSD: a miss is counted, never rewarded with 0 mm. A class absent from both is not
scored (NaN, left out of the means).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import ndimage


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def _surface_distances(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Distances (mm) from the surface voxels of a to the surface of b."""
    distance_to_b = ndimage.distance_transform_edt(~_surface(b), sampling=spacing)
    return distance_to_b[_surface(a)]


def class_metrics(prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]) -> dict:
    """{'dice', 'hd95', 'assd'} for boolean masks of one class."""
    present_p, present_r = bool(prediction.any()), bool(reference.any())
    if not present_p and not present_r:
        return {"dice": math.nan, "hd95": math.nan, "assd": math.nan}
    if not (present_p and present_r):
        diagonal = float(np.sqrt(sum((n * s) ** 2 for n, s in zip(reference.shape, spacing))))
        return {"dice": 0.0, "hd95": diagonal, "assd": diagonal}
    intersection = np.logical_and(prediction, reference).sum()
    dice = 2.0 * intersection / (prediction.sum() + reference.sum())
    distances = np.concatenate([_surface_distances(prediction, reference, spacing),
                                _surface_distances(reference, prediction, spacing)])
    return {"dice": float(dice), "hd95": float(np.percentile(distances, 95)), "assd": float(distances.mean())}
