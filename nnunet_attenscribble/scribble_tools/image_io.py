"""SimpleITK reading and writing with errors that name the file, and all-or-nothing output folders."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import ScribbleToolError


def read_image(path) -> sitk.Image:
    """Read any image SimpleITK understands; unreadable or truncated files raise ScribbleToolError."""
    path = Path(path)
    if not path.is_file():
        raise ScribbleToolError(path, "file not found")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ScribbleToolError(path, f"cannot be read as an image ({str(error).strip().splitlines()[-1]})")


def array_with_geometry(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """An image holding `array` (SimpleITK axis order) with the geometry of `reference`."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def image_from_array(array: np.ndarray, spacing_zyx) -> sitk.Image:
    """An image from a (Z, Y, X) / (Y, X) array and its spacing in the same axis order."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in reversed(spacing_zyx)])
    return image


def check_same_geometry(image: sitk.Image, label: sitk.Image, label_path, tolerance: float = 1e-3) -> None:
    """Shape, spacing and orientation of a label map must match its image."""
    if image.GetSize() != label.GetSize():
        raise ScribbleToolError(label_path, f"shape {label.GetSize()} differs from its image {image.GetSize()}")
    if not np.allclose(image.GetSpacing(), label.GetSpacing(), rtol=tolerance, atol=tolerance):
        raise ScribbleToolError(label_path, f"spacing {label.GetSpacing()} differs from its image {image.GetSpacing()}")
    if not np.allclose(image.GetDirection(), label.GetDirection(), atol=tolerance):
        raise ScribbleToolError(label_path, "orientation (direction cosines) differs from its image")
    if not np.allclose(image.GetOrigin(), label.GetOrigin(), atol=max(tolerance, 1e-2 * max(image.GetSpacing()))):
        raise ScribbleToolError(label_path, f"origin {label.GetOrigin()} differs from its image {image.GetOrigin()}")


def write_image(image: sitk.Image, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)


@contextlib.contextmanager
def atomic_output_folder(destination, overwrite: bool = False):
    """Yield a temporary folder beside `destination`; move it into place only if the block succeeds."""
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise ScribbleToolError(destination, "already exists (use --overwrite to replace it)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if destination.exists():
        shutil.rmtree(destination)
    temporary.rename(destination)
