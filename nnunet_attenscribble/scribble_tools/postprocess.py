"""`attenscribble postprocess`: keep the largest connected component of the predicted foreground (and, with
`per_class`, of each class) with nnU-Net's own function.

nnUNetv2_determine_postprocessing decides this on validation labels; on scribble labels it cannot see the stray
islands in unannotated regions that this removes, so the decision is offered here (docs/RESULTS.md §3.7)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from nnunetv2.postprocessing.remove_connected_components import remove_all_but_largest_component_from_segmentation
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import array_with_geometry, read_image, write_image
from .pairing import list_images
from .safe_output import atomic_output_folder


def keep_largest_components(segmentation: np.ndarray, per_class: bool) -> np.ndarray:
    """The largest connected component of all foreground classes together (nnU-Net's 'foreground as one region'),
    then, if `per_class`, the largest component of each class; removed voxels become background (0)."""
    classes = [int(v) for v in np.unique(segmentation) if v > 0]
    if not classes:
        return segmentation
    segmentation = remove_all_but_largest_component_from_segmentation(segmentation, classes)
    if per_class:
        for value in classes:
            segmentation = remove_all_but_largest_component_from_segmentation(segmentation, value)
    return segmentation


def postprocess_folder(predictions, output, per_class: bool = False, overwrite: bool = False) -> list[Path]:
    """Every label map of `predictions` post-processed into `output`, a folder apart from `predictions` (written
    only if all succeed); nnU-Net's dataset.json comes along."""
    files = list_images(predictions)
    if not files:
        raise ScribbleToolError(predictions, "no image files found")
    written = []
    with atomic_output_folder(output, overwrite, inputs=[predictions]) as folder:
        for path in tqdm(files, desc="post-processing", unit="case"):
            image = read_image(path, role="label")
            segmentation = sitk.GetArrayFromImage(image)
            kept = keep_largest_components(segmentation, per_class)
            write_image(array_with_geometry(kept, image), folder / path.name)
            written.append(Path(output) / path.name)
        if (Path(predictions) / "dataset.json").is_file():  # class names for evaluate / overlay of the output
            shutil.copyfile(Path(predictions) / "dataset.json", folder / "dataset.json")
    return written
