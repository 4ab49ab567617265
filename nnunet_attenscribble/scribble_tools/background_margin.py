"""Background beyond a margin: unannotated voxels far from every foreground scribble are scribbled background.

An annotator's implicit statement: "nothing I segment lies more than M mm from where I scribbled it". Scribbles
are drawn near the object (ACDC's experts put 99 % of their background strokes within ~10 cm of the heart), so
regions far from it get no supervision, and a scribble-trained model may label them with any class. Marking
them background at conversion time supervises them for every trainer alike. The distance is Euclidean in mm
(voxel spacing of the case), in 3D, to the nearest scribbled voxel of any foreground class. With a width, only a
shell [M, M + width] is marked (a loose lasso around the object) rather than everything beyond M.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .errors import ScribbleToolError
from .image_io import array_with_geometry
from .raw_dataset import Case


def background_beyond(scribble: np.ndarray, spacing_zyx: Sequence[float], ignore_value: int, margin_mm: float,
                      width_mm: Optional[float] = None) -> np.ndarray:
    """`scribble` with its unannotated voxels farther than `margin_mm` from every foreground scribble set to 0
    (background); with `width_mm`, only those within margin_mm + width_mm. Unchanged without foreground scribble."""
    foreground = (scribble > 0) & (scribble != ignore_value)
    if not foreground.any():
        return scribble
    distance = ndimage.distance_transform_edt(~foreground, sampling=spacing_zyx)
    region = distance > margin_mm
    if width_mm is not None:
        region &= distance <= margin_mm + width_mm
    result = scribble.copy()
    result[region & (scribble == ignore_value)] = 0
    return result


def add_background_beyond(cases: Sequence[Case], ignore_value: int, margin_mm: float,
                          width_mm: Optional[float] = None) -> None:
    """Apply `background_beyond` to the scribble map of every training case, in place."""
    if margin_mm <= 0 or (width_mm is not None and width_mm <= 0):
        raise ScribbleToolError(None, f"--background-beyond needs a positive margin and width (got {margin_mm}, "
                                      f"{width_mm})")
    for case in cases:
        if case.scribble is None:
            continue
        array = sitk.GetArrayFromImage(case.scribble)
        spacing_zyx = tuple(reversed(case.scribble.GetSpacing()))
        case.scribble = array_with_geometry(background_beyond(array, spacing_zyx, ignore_value, margin_mm, width_mm),
                                            case.scribble)
