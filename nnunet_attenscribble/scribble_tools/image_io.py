"""SimpleITK reading and writing with errors that name the file; reading proves the whole file was read."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Tuple

import numpy as np
import SimpleITK as sitk

from .errors import ScribbleToolError


ROLES = ("image", "label", "geometry")


def _read_nifti_data_again(path: Path) -> np.ndarray:
    """The voxel data of a NIfTI file read in full by nibabel. ITK fills a truncated NIfTI (.nii or .nii.gz) with
    zeros and reads NaN as 0 without a word; nibabel checks the whole gzip stream and the data length."""
    import nibabel
    try:
        return np.asanyarray(nibabel.load(str(path)).dataobj)
    except (EOFError, OSError, ValueError, zlib.error, nibabel.filebasedimages.ImageFileError) as error:
        raise ScribbleToolError(path, f"is truncated or damaged ({str(error).splitlines()[0]})")


def _check_gzip_complete(path: Path) -> None:
    """A gzip-compressed file of another format decompresses to its end with a valid checksum."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    except (EOFError, OSError, zlib.error) as error:
        raise ScribbleToolError(path, f"is truncated or damaged ({error})")


def check_finite(array: np.ndarray, path) -> None:
    """Float voxels must be numbers: NaN / Inf would pass silently into nnU-Net's normalisation."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ScribbleToolError(path, f"holds {bad} NaN or infinite voxel(s)")


def check_whole_numbers(array: np.ndarray, path) -> None:
    """Label maps hold class numbers: a fractional value (2.4) would otherwise be cut to a class or lost."""
    if np.issubdtype(array.dtype, np.floating):
        fractional = array[array != np.round(array)]
        if fractional.size:
            raise ScribbleToolError(path, f"is a label map with non-integer values (e.g. {float(fractional[0]):g}); "
                                          "label maps hold whole class numbers")


def read_image(path, role: str = "image") -> sitk.Image:
    """The one reader of every subcommand: a 2D or 3D single-component image, read in full.

    Errors (ScribbleToolError, naming the file) for: a missing, unreadable, truncated or damaged file; another
    dimensionality or a vector pixel type; NaN / Inf voxels (role 'image' and 'label'); non-integer values in a
    label map (role 'label', returned with an integer pixel type). Role 'geometry' reads only the header's geometry
    and checks the file is whole."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    path = Path(path)
    if not path.is_file():
        raise ScribbleToolError(path, "file not found")
    name = path.name.lower()
    raw = _read_nifti_data_again(path) if name.endswith((".nii", ".nii.gz")) else None
    if raw is None and name.endswith(".gz"):
        _check_gzip_complete(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1]
        raise ScribbleToolError(path, f"cannot be read as an image: truncated or damaged? ({detail})")
    if image.GetDimension() not in (2, 3):
        raise ScribbleToolError(path, f"has {image.GetDimension()} dimensions (2D or 3D expected)")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ScribbleToolError(path, f"has {image.GetNumberOfComponentsPerPixel()} components per voxel (one "
                                      "expected; store channels as separate files <case>_0000, <case>_0001, ...)")
    if role == "geometry":
        return image
    array = sitk.GetArrayViewFromImage(image)
    check_finite(array if raw is None else raw, path)
    if role == "label" and np.issubdtype(array.dtype, np.floating):
        check_whole_numbers(array, path)
        image = sitk.Cast(image, sitk.sitkInt32)
    return image


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


def read_label_array(path) -> Tuple[sitk.Image, np.ndarray]:
    """A label map (checked as read_image checks labels) with its voxel array."""
    image = read_image(path, role="label")
    return image, sitk.GetArrayFromImage(image)
