"""`attenscribble convert`: scribble data in three layouts -> nnU-Net raw dataset (+ dense labels)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import (array_with_geometry, check_finite, check_same_geometry, check_whole_numbers, image_from_array,
                       read_image)
from .pairing import case_name, index_by_case, index_channels, is_test_case, list_images, pair_cases
from .raw_dataset import Case
from .value_mapping import check_dense_values, map_scribble_values

WSL4MIS_KEYS = ("image", "label", "scribble")


def read_h5(path: Path, keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """The given keys of a WSL4MIS h5 volume; unreadable files and missing keys name the file."""
    import h5py
    try:
        with h5py.File(path, "r") as handle:
            missing = [k for k in keys if k not in handle]
            if missing:
                raise ScribbleToolError(path, f"missing key(s) {missing} (has {sorted(handle.keys())})")
            return {k: handle[k][()] for k in keys}
    except OSError as error:
        raise ScribbleToolError(path, f"cannot be read as HDF5 ({error})")


def _reference_geometry(reference_dir: Optional[Path], spacing: Optional[Sequence[float]], name: str,
                        shape, h5_path: Path) -> sitk.Image:
    """An empty image carrying the geometry for an h5 volume: from a reference file of the same case, or
    from an explicit spacing (Z Y X). h5 files carry none, and none is invented."""
    if reference_dir is not None:
        matches = [p for p in list_images(reference_dir) if case_name(p) == name]
        if not matches:
            raise ScribbleToolError(h5_path, f"no reference image named like {name} in {reference_dir}")
        reference = read_image(matches[0], role="geometry")
        if tuple(sitk.GetArrayViewFromImage(reference).shape) != tuple(shape):
            raise ScribbleToolError(matches[0], f"shape {sitk.GetArrayViewFromImage(reference).shape} differs from "
                                                f"the h5 volume {tuple(shape)} of {h5_path.name}")
        return reference
    if spacing is None:
        raise ScribbleToolError(h5_path, "h5 volumes carry no spacing: give --reference-dir or --spacing Z Y X")
    if len(spacing) != len(shape):
        raise ScribbleToolError(h5_path, f"--spacing has {len(spacing)} values for a {len(shape)}D volume")
    return image_from_array(np.zeros(shape, np.uint8), spacing)


def wsl4mis_cases(h5_dir, reference_dir, spacing, unannotated_value: int, num_classes: int,
                  test_ids) -> List[Case]:
    """WSL4MIS h5 volumes (image, label, scribble)."""
    files = sorted(Path(h5_dir).glob("*.h5"))
    if not files:
        raise ScribbleToolError(h5_dir, "no .h5 files")
    cases = []
    for path in tqdm(files, desc="reading h5 volumes", unit="volume"):
        arrays = read_h5(path, WSL4MIS_KEYS)
        name = case_name(path)
        geometry = _reference_geometry(Path(reference_dir) if reference_dir else None, spacing, name,
                                       arrays["image"].shape, path)
        for key in ("label", "scribble"):
            if arrays[key].shape != arrays["image"].shape:
                raise ScribbleToolError(path, f"'{key}' shape {arrays[key].shape} differs from 'image' "
                                              f"{arrays['image'].shape}")
            check_whole_numbers(arrays[key], f"{path}:{key}")
        check_finite(arrays["image"], f"{path}:image")
        check_dense_values(arrays["label"], num_classes, f"{path}:label")
        test = is_test_case(name, test_ids)
        scribble = map_scribble_values(arrays["scribble"], unannotated_value, None, num_classes, f"{path}:scribble")
        cases.append(Case(name, [array_with_geometry(arrays["image"].astype(np.float32), geometry)],
                          None if test else array_with_geometry(scribble, geometry),
                          array_with_geometry(arrays["label"].astype(np.uint8), geometry), test, str(path)))
    return cases


def _label_cases(images: Dict[str, List[Path]], scribbles: Dict[str, List[Path]],
                 dense: Optional[Dict[str, List[Path]]], map_scribble: Callable, num_classes: int,
                 test_ids) -> List[Case]:
    """Cases from paired image / scribble (/ dense) files, geometry checked against the first channel."""
    cases = []
    for name in tqdm(sorted(images), desc="reading cases", unit="case"):
        channels = [read_image(p) for p in images[name]]
        for path, channel in zip(images[name][1:], channels[1:]):
            check_same_geometry(channels[0], channel, path)
        test = is_test_case(name, test_ids)
        scribble = None
        if not test:
            scribble_path = scribbles[name][0]
            scribble_image = read_image(scribble_path, role="label")
            check_same_geometry(channels[0], scribble_image, scribble_path)
            scribble = array_with_geometry(map_scribble(sitk.GetArrayFromImage(scribble_image), scribble_path),
                                           channels[0])
        dense_image = None
        if dense is not None and name in dense:
            dense_image = read_image(dense[name][0], role="label")
            check_same_geometry(channels[0], dense_image, dense[name][0])
            check_dense_values(sitk.GetArrayViewFromImage(dense_image), num_classes, dense[name][0])
        cases.append(Case(name, channels, scribble, dense_image, test, str(images[name][0])))
    return cases


def generic_cases(image_dir, scribble_dir, dense_dir, unannotated_value: int, class_map, num_classes: int,
                  test_ids) -> List[Case]:
    """Any images + scribble label maps SimpleITK reads, paired by name, with a painted-value mapping."""
    images = index_channels(image_dir)
    scribbles = index_by_case(list_images(scribble_dir), scribble_dir)
    pair_cases(images, scribbles, scribble_dir, {n for n in images if is_test_case(n, test_ids)})
    dense = index_by_case(list_images(dense_dir), dense_dir) if dense_dir else None

    def map_scribble(array, path):
        return map_scribble_values(array, unannotated_value, class_map, num_classes, path)

    return _label_cases(images, scribbles, dense, map_scribble, num_classes, test_ids)


def acdc_cases(acdc_dir, scribble_dir, unannotated_value: int, num_classes: int, test_ids) -> List[Case]:
    """The ACDC download (patientXXX/patientXXX_frameYY[_gt].nii.gz) + Valvano et al.'s scribble folder."""
    acdc_dir = Path(acdc_dir)
    frames = sorted(acdc_dir.glob("patient*/patient*_frame[0-9][0-9].nii.gz"))
    if not frames:
        raise ScribbleToolError(acdc_dir, "no patientXXX/patientXXX_frameYY.nii.gz files")
    images = index_by_case(frames, acdc_dir)
    dense = index_by_case(sorted(acdc_dir.glob("patient*/patient*_frame[0-9][0-9]_gt.nii.gz")), acdc_dir) \
        if any(acdc_dir.glob("patient*/*_gt.nii.gz")) else None
    scribbles = index_by_case(list_images(scribble_dir, "*_scribble*"), scribble_dir)
    pair_cases(images, scribbles, scribble_dir, {n for n in images if is_test_case(n, test_ids)})

    def map_scribble(array, path):
        return map_scribble_values(array, unannotated_value, None, num_classes, path)

    return _label_cases(images, scribbles, dense, map_scribble, num_classes, test_ids)


def simulated_cases(image_dir, label_dir, num_classes: int, settings, seed: int, test_ids) -> List[Case]:
    """Images + dense label maps -> cases whose training scribbles are simulated from the dense labels.

    Each case's seed mixes `seed` with a checksum of its name: adding or removing files changes nobody else."""
    import zlib

    from .simulate import simulate_scribbles

    images = index_channels(image_dir)
    labels = index_by_case(list_images(label_dir), label_dir)
    pair_cases(images, labels, label_dir)
    cases = []
    for name in tqdm(sorted(images), desc="simulating scribbles", unit="case"):
        channels = [read_image(p) for p in images[name]]
        dense = read_image(labels[name][0], role="label")
        check_same_geometry(channels[0], dense, labels[name][0])
        array = sitk.GetArrayFromImage(dense)
        check_dense_values(array, num_classes, labels[name][0])
        test = is_test_case(name, test_ids)
        scribble = None
        if not test:
            scribble_array = simulate_scribbles(array, num_classes, seed + zlib.crc32(name.encode()), settings)
            scribble = array_with_geometry(scribble_array, dense)
        cases.append(Case(name, channels, scribble, sitk.Cast(dense, sitk.sitkUInt8), test, str(labels[name][0])))
    return cases
