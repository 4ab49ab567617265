"""Local pairwise windows shared by the gated CRF and the attentive similarity loss.

A window is a set of non-zero integer offsets around each voxel. Distances are measured physically and
expressed in a length unit (default: the grid's finest in-plane spacing), so that a 2D isotropic grid with
radius 5 gives exactly the original 11x11 window, and anisotropic 3D grids do not reach across thick slices
as far as in-plane. A larger unit shrinks the window of a coarse grid to the same physical extent.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterator, Optional, Sequence, Tuple

Offset = Tuple[int, ...]


def finest_inplane(spacing: Sequence[float]) -> float:
    """The finest in-plane spacing: the default length unit of windows and Gaussian sigmas."""
    return min(spacing[-2:]) if len(spacing) >= 2 else spacing[0]


def window_radii(spacing: Sequence[float], radius: int, max_window_size: int,
                 unit: Optional[float] = None) -> Tuple[int, ...]:
    """Per-axis radii for a window of `radius` units (default: finest in-plane voxels), shrunk until it has at
    most `max_window_size` voxels (2D isotropic radius 5 -> (5, 5); 3D isotropic -> (2, 2, 2) at 125)."""
    unit = unit or finest_inplane(spacing)
    for r in range(radius, -1, -1):
        radii = tuple(int(math.floor(r * unit / s + 1e-6)) for s in spacing)
        if math.prod(2 * x + 1 for x in radii) <= max_window_size:
            return radii
    return tuple(0 for _ in spacing)


def window_offsets(radii: Sequence[int], spacing: Sequence[float],
                   unit: Optional[float] = None) -> list[tuple[Offset, float]]:
    """All non-zero offsets of the window with their squared distance in `unit`s (default: finest in-plane
    voxels)."""
    unit = unit or finest_inplane(spacing)
    ranges = [range(-r, r + 1) for r in radii]
    result = []
    for offset in itertools.product(*ranges):
        if any(offset):
            distance_sq = sum((o * s / unit) ** 2 for o, s in zip(offset, spacing))
            result.append((tuple(offset), distance_sq))
    return result


def half_window(offsets: list[tuple[Offset, float]]) -> list[tuple[Offset, float]]:
    """One offset of each (+d, -d) pair (first non-zero component positive): symmetric pairwise terms visit
    every unordered voxel pair once instead of twice."""
    return [(offset, d) for offset, d in offsets if next(o for o in offset if o != 0) > 0]


def pair_slices(shape: Sequence[int], offset: Offset) -> Tuple[tuple, tuple]:
    """Slices (centre i, neighbour j = i + offset) over the trailing spatial axes, for all in-bound pairs.

    Returns index tuples that start with Ellipsis so they apply to (..., *shape) tensors."""
    centre, neighbour = [Ellipsis], [Ellipsis]
    for size, o in zip(shape, offset):
        if o >= 0:
            centre.append(slice(0, size - o))
            neighbour.append(slice(o, size))
        else:
            centre.append(slice(-o, size))
            neighbour.append(slice(0, size + o))
    return tuple(centre), tuple(neighbour)


def iterate_pairs(shape: Sequence[int], offsets: list[tuple[Offset, float]]) -> Iterator[tuple[tuple, tuple, float]]:
    """(centre slices, neighbour slices, squared distance) for each offset that fits inside `shape`."""
    for offset, distance_sq in offsets:
        if all(abs(o) < s for o, s in zip(offset, shape)):
            centre, neighbour = pair_slices(shape, offset)
            yield centre, neighbour, distance_sq
