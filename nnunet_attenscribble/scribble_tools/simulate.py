"""Scribbles from dense masks: thin, connected strokes inside each class, as a person would draw them.

Per slice (2D, along a chosen axis) or per volume (3D), and per class present (background included):
the class region is eroded in proportion to its size, skeletonised, and a contiguous piece of the largest
skeleton branch is kept (a geodesic walk from a random skeleton point, its length a random fraction of the
skeleton): the curve-based interior scribbles of Valvano et al. / ScribbleBench. Background strokes are drawn
in a band around the foreground, where annotators put them, and across slices (frames) without foreground,
which an annotator marks as background with one stroke; without the latter a scribble-trained model gets no
hint about those slices. Optional border strokes follow a piece of each class's inner contour. Seeded: the same
seed and masks give the same scribbles.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize


@dataclass(frozen=True)
class SimulationSettings:
    mode: str = "2d"                 # "2d": per slice along `axis`; "3d": whole volume
    axis: int = 0
    min_fraction: float = 0.4        # stroke length as a fraction of the skeleton, drawn uniformly in between
    max_fraction: float = 0.9
    background_band: int = 8         # background strokes lie within this many voxels of the foreground
    empty_frame_strokes: bool = True  # frames without foreground get one background stroke
    border: bool = False             # also draw a piece of each class's inner contour
    min_region_size: int = 4         # regions smaller than this (voxels) get no scribble


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labelled, count = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    if count <= 1:
        return labelled > 0
    sizes = ndimage.sum(mask, labelled, index=range(1, count + 1))
    return labelled == (int(np.argmax(sizes)) + 1)


def _geodesic_piece(curve: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A connected piece of a thin curve: voxels within a geodesic distance of a random start point."""
    points = np.argwhere(curve)
    if len(points) == 0:
        return curve
    keep = max(1, int(round(fraction * len(points))))
    start = tuple(points[rng.integers(len(points))])
    seen = {start}
    queue = deque([start])
    offsets = [o for o in np.ndindex(*(3,) * curve.ndim) if any(x != 1 for x in o)]
    while queue and len(seen) < keep:
        current = queue.popleft()
        for offset in offsets:
            neighbour = tuple(c + o - 1 for c, o in zip(current, offset))
            if neighbour not in seen and all(0 <= n < s for n, s in zip(neighbour, curve.shape)) and curve[neighbour]:
                seen.add(neighbour)
                queue.append(neighbour)
                if len(seen) >= keep:
                    break
    piece = np.zeros_like(curve)
    piece[tuple(np.array(list(seen)).T)] = True
    return piece


def _principal_axis_line(region: np.ndarray) -> np.ndarray:
    """The region's major axis through its centroid, clipped to the region (blobs skeletonise to a point)."""
    points = np.argwhere(region).astype(float)
    centre = points.mean(axis=0)
    if len(points) < 2:
        return region.copy()
    _, vectors = np.linalg.eigh(np.cov((points - centre).T))
    direction = vectors[:, -1]
    line = np.zeros_like(region)
    for sign in (1.0, -1.0):
        for step in np.arange(0.0, max(region.shape) * 2.0, 0.5):
            index = tuple(np.round(centre + sign * step * direction).astype(int))
            if not all(0 <= i < s for i, s in zip(index, region.shape)) or not region[index]:
                break
            line[index] = True
    return _largest_component(line) if line.any() else line


def _stroke(region: np.ndarray, settings: SimulationSettings, rng: np.random.Generator) -> np.ndarray:
    """A thin connected stroke inside `region` (class-size aware erosion, skeleton, geodesic piece)."""
    if region.sum() < settings.min_region_size:
        return np.zeros_like(region)
    region = _largest_component(region)
    thickness = ndimage.distance_transform_edt(region).max()
    eroded = ndimage.binary_erosion(region, iterations=int(thickness // 3)) if thickness >= 3 else region
    if not eroded.any():
        eroded = region
    skeleton = _largest_component(skeletonize(eroded))
    axis_line = _principal_axis_line(eroded)
    if axis_line.sum() > skeleton.sum():
        skeleton = axis_line
    fraction = rng.uniform(settings.min_fraction, settings.max_fraction)
    return _geodesic_piece(skeleton, fraction, rng)


def _border_stroke(region: np.ndarray, settings: SimulationSettings, rng: np.random.Generator) -> np.ndarray:
    """A piece of the region's inner contour."""
    if region.sum() < settings.min_region_size:
        return np.zeros_like(region)
    region = _largest_component(region)
    contour = region & ~ndimage.binary_erosion(region)
    return _geodesic_piece(_largest_component(contour), rng.uniform(0.2, 0.5), rng)


def _scribble_frame(label: np.ndarray, classes, ignore_value: int, settings: SimulationSettings,
                    rng: np.random.Generator) -> np.ndarray:
    """Scribbles for one slice or volume."""
    scribble = np.full(label.shape, ignore_value, dtype=np.int16)
    foreground = label > 0
    for value in classes:
        if value == 0 and foreground.any():
            near = ndimage.binary_dilation(foreground, iterations=settings.background_band)
            margin = ndimage.binary_dilation(foreground, iterations=2)
            region = near & ~margin & (label == 0)
        elif value == 0 and not settings.empty_frame_strokes:
            continue
        else:
            region = label == value
        stroke = _stroke(region, settings, rng)
        if settings.border and value != 0:
            stroke |= _border_stroke(region, settings, rng)
        scribble[stroke & (label == value)] = value
    return scribble


def simulate_scribbles(label: np.ndarray, ignore_value: int, seed: int,
                       settings: Optional[SimulationSettings] = None) -> np.ndarray:
    """Scribble map (int16) for a dense label map: class values where scribbled, `ignore_value` elsewhere."""
    settings = settings or SimulationSettings()
    rng = np.random.default_rng(seed)
    classes = [int(v) for v in np.unique(label)]
    if settings.mode == "3d" or label.ndim == 2:
        return _scribble_frame(label, classes, ignore_value, settings, rng)
    moved = np.moveaxis(label, settings.axis, 0)
    slices = [_scribble_frame(s, [int(v) for v in np.unique(s)], ignore_value, settings, rng) for s in moved]
    return np.moveaxis(np.stack(slices), 0, settings.axis)


def annotated_fraction(scribble: np.ndarray, label: np.ndarray, ignore_value: int) -> dict:
    """Per class: fraction of the class's voxels that carry a scribble."""
    result = {}
    for value in np.unique(label):
        inside = label == value
        result[int(value)] = float(((scribble != ignore_value) & inside).sum() / max(inside.sum(), 1))
    return result
