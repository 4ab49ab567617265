"""Where a model's errors sit: how much of its wrongly labelled foreground lies far from the reference's foreground,
and which class each reference class's missed voxels went to.

    python benchmarks/error_location.py --predictions PRED --references denseLabelsTs [--distance-mm 10]

Far-away false foreground (a ventricle painted on a vessel, islands in the background) is what a scribble-trained
model's unannotated regions produce and what HD95 punishes; errors at the object's boundary are the other kind.
Distances are measured in-plane per slice (mm, with the real spacing), as 2d models predict. The confusion count
tells a class that is missed (given to the background) from one that is confused with its neighbour (right
ventricle painted as myocardium).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from nnunet_attenscribble.scribble_tools.image_io import read_label_array
from nnunet_attenscribble.scribble_tools.pairing import pair_predictions


def _add_location_counts(counts: dict, reference_image: sitk.Image, reference: np.ndarray, prediction: np.ndarray,
                         distance_mm: float) -> None:
    """Adds one case's correct / missed / wrong / far-wrong foreground voxels to counts."""
    in_plane = reference_image.GetSpacing()[::-1][-2:]
    distance = np.stack([ndimage.distance_transform_edt(frame == 0, sampling=in_plane)
                         for frame in reference.reshape((-1, *reference.shape[-2:]))]).reshape(reference.shape)
    wrong = (prediction > 0) & (prediction != reference)
    counts["correct"] += int(((prediction == reference) & (reference > 0)).sum())
    counts["missed"] += int(((reference > 0) & (prediction != reference)).sum())
    counts["wrong"] += int(wrong.sum())
    counts["wrong_far"] += int((wrong & (distance > distance_mm)).sum())


def _add_confusion(confusion: np.ndarray, reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """confusion plus this case's [reference class, predicted class] counts, grown to the largest label seen."""
    size = max(confusion.shape[0], int(reference.max()) + 1, int(prediction.max()) + 1)
    grown = np.zeros((size, size), np.int64)
    grown[:len(confusion), :len(confusion)] = confusion
    grown += np.bincount(reference.astype(np.int64).ravel() * size + prediction.astype(np.int64).ravel(),
                         minlength=size * size).reshape(size, size)
    return grown


def error_counts(predictions: Path, references: Path, distance_mm: float) -> tuple[dict, np.ndarray]:
    """One pass over all cases (paired as `attenscribble evaluate` pairs them). Returns the voxel counts of correct,
    missed and wrong foreground and of wrong foreground farther than distance_mm (in-plane) from any reference
    foreground; and the confusion count indexed [reference class, predicted class], as many classes as the largest
    label in any map."""
    counts = dict(correct=0, missed=0, wrong=0, wrong_far=0)
    confusion = np.zeros((0, 0), np.int64)
    for reference_path, prediction_path in pair_predictions(predictions, references).values():
        reference_image, reference = read_label_array(reference_path)
        prediction = read_label_array(prediction_path)[1]
        _add_location_counts(counts, reference_image, reference, prediction, distance_mm)
        confusion = _add_confusion(confusion, reference, prediction)
    return counts, confusion


def confusion_lines(confusion: np.ndarray) -> list[str]:
    """Per foreground reference class: the share of its voxels predicted right, and where the others went."""
    lines = []
    for label in range(1, confusion.shape[0]):
        total = confusion[label].sum()
        if total == 0:
            continue
        shares = [f"{100 * confusion[label, other] / total:.1f} % as {other}"
                  for other in range(confusion.shape[1]) if other != label and confusion[label, other]]
        lines.append(f"reference class {label} ({total} voxels): {100 * confusion[label, label] / total:.1f} % "
                     f"right; missed: {', '.join(shares) or 'none'}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--references", type=Path, required=True, help="dense label maps, named as the predictions")
    parser.add_argument("--distance-mm", type=float, default=10.0)
    args = parser.parse_args(argv)
    counts, confusion = error_counts(args.predictions, args.references, args.distance_mm)
    share = 100 * counts["wrong_far"] / max(counts["wrong"], 1)
    print(f"correct foreground {counts['correct']}, missed {counts['missed']}, wrong {counts['wrong']} "
          f"(per correct voxel: {counts['wrong'] / max(counts['correct'], 1):.2f}); of the wrong, {share:.1f} % lie "
          f"> {args.distance_mm:g} mm from the reference foreground")
    print("\n".join(confusion_lines(confusion)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
