"""`attenscribble overlay`: PNG panels per case: image (+ its scribbles) | prediction filled, dense label outlined."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import check_same_geometry, read_image
from .pairing import index_by_case, index_channels, list_images
from .safe_output import check_output_apart_from_inputs

# Okabe & Ito's colour-blind-safe palette: background scribbles yellow (visible on dark images), classes 1, 2, ...
BACKGROUND_COLOUR = np.array([240, 228, 66]) / 255.0
CLASS_COLOURS = np.array([[230, 159, 0], [86, 180, 233], [0, 158, 115], [204, 121, 167], [0, 114, 178],
                          [213, 94, 0]], dtype=float) / 255.0


def class_colour(value: int) -> np.ndarray:
    return BACKGROUND_COLOUR if value == 0 else CLASS_COLOURS[(int(value) - 1) % len(CLASS_COLOURS)]


def pick_slice(reference: Optional[np.ndarray], prediction: np.ndarray) -> int:
    """The slice with the most labelled voxels in the reference (else in the prediction)."""
    source = reference if reference is not None and reference.any() else prediction
    return int(np.argmax((source > 0).reshape(source.shape[0], -1).sum(1)))


def panel_titles(has_scribbles: bool, has_reference: bool) -> tuple[str, str]:
    """What each panel shows: scribbles only where the case has them (test cases have none)."""
    left = "image + scribbles" if has_scribbles else "image (no scribbles for this case)"
    right = "prediction (filled) vs dense label (outline)" if has_reference else "prediction (filled)"
    return left, right


def render_case(image: np.ndarray, prediction: np.ndarray, reference: Optional[np.ndarray],
                scribble: Optional[np.ndarray], ignore_value: Optional[int], slice_index: int, title: str,
                path: Path, aspect: float = 1.0, class_names: Optional[dict] = None) -> None:
    """Left: the image, with its scribbles if given. Right: the prediction as translucent fill and the dense label as
    an outline in the same class colour (fill vs line tells them apart without relying on colour), with a legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    picture = image[slice_index].astype(float)
    low, high = np.percentile(picture, [1, 99])
    picture = np.clip((picture - low) / max(high - low, 1e-8), 0, 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 5.6))
    for axis in axes:
        axis.imshow(picture, cmap="gray", aspect=aspect)
        axis.axis("off")
    left, right = panel_titles(scribble is not None, reference is not None)
    if scribble is not None:
        layer = np.zeros((*picture.shape, 4))
        for value in np.unique(scribble[slice_index]):
            if value != ignore_value:
                layer[scribble[slice_index] == value] = [*class_colour(value), 1.0]
        axes[0].imshow(layer, aspect=aspect, interpolation="nearest")
    axes[0].set_title(left)
    classes = sorted(int(v) for v in set(np.unique(prediction[slice_index])) |
                     (set(np.unique(reference[slice_index])) if reference is not None else set()) if v != 0)
    fill = np.zeros((*picture.shape, 4))
    for value in classes:
        fill[prediction[slice_index] == value] = [*class_colour(value), 0.45]
    axes[1].imshow(fill, aspect=aspect, interpolation="nearest")
    for value in classes:
        if reference is not None and (reference[slice_index] == value).any():
            axes[1].contour(reference[slice_index] == value, levels=[0.5], colors=[class_colour(value)],
                            linewidths=1.8)
    axes[1].set_title(right)
    names = class_names or {}
    handles = [Patch(color=BACKGROUND_COLOUR, label="background (scribbles)")] if scribble is not None else []
    handles += [Patch(color=class_colour(v), label=names.get(v, f"class {v}")) for v in classes]
    handles.append(Patch(facecolor=(0.5, 0.5, 0.5, 0.45), edgecolor="none", label="prediction: fill"))
    if reference is not None:
        handles.append(Line2D([], [], color=(0.3, 0.3, 0.3), linewidth=1.8, label="dense label: outline"))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=9, frameon=False)
    figure.suptitle(f"{title} — slice {slice_index}")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _label(index, name, image: sitk.Image, required=True) -> Optional[np.ndarray]:
    """The label map of case `name` from a folder index, checked to lie on the image's voxel grid."""
    if index is None or name not in index:
        if required:
            raise ScribbleToolError(name, "no file for this case")
        return None
    label = read_image(index[name][0], role="label")
    check_same_geometry(image, label, index[name][0])
    return sitk.GetArrayFromImage(label)


def overlay_folders(image_dir, prediction_dir, output_dir, reference_dir=None, scribble_dir=None,
                    ignore_value: Optional[int] = None, cases: Optional[Sequence[str]] = None,
                    slice_index: Optional[int] = None, class_names: Optional[dict] = None) -> list:
    """Write one PNG per chosen case (all cases by default); returns the written paths."""
    check_output_apart_from_inputs(output_dir, [image_dir, prediction_dir, reference_dir, scribble_dir])
    images = index_channels(image_dir)
    predictions = index_by_case(list_images(prediction_dir), prediction_dir)
    references = index_by_case(list_images(reference_dir), reference_dir) if reference_dir else None
    scribbles = index_by_case(list_images(scribble_dir), scribble_dir) if scribble_dir else None
    chosen = list(cases) if cases else sorted(predictions)
    written = []
    for name in tqdm(chosen, desc="drawing overlays", unit="case"):
        if name not in images:
            raise ScribbleToolError(image_dir, f"no image for case {name}")
        image_file = read_image(images[name][0])
        image = sitk.GetArrayFromImage(image_file)
        prediction = _label(predictions, name, image_file)
        reference = _label(references, name, image_file, required=False)
        scribble = _label(scribbles, name, image_file, required=False)
        if image.ndim == 2:
            image, prediction = image[None], prediction[None]
            reference = None if reference is None else reference[None]
            scribble = None if scribble is None else scribble[None]
        index = pick_slice(reference, prediction) if slice_index is None else slice_index
        if not 0 <= index < image.shape[0]:
            raise ScribbleToolError(images[name][0], f"slice {index} outside 0..{image.shape[0] - 1}")
        spacing = image_file.GetSpacing()
        path = Path(output_dir) / f"{name}_slice{index:03d}.png"
        render_case(image, prediction, reference, scribble, ignore_value, index, name, path,
                    aspect=spacing[1] / spacing[0], class_names=class_names)
        written.append(path)
    return written
