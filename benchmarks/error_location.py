"""Where a model's errors sit: how much of its wrongly labelled foreground lies far from the reference's foreground.

    python benchmarks/error_location.py --predictions PRED --references denseLabelsTs [--distance-mm 10]

Far-away false foreground (a ventricle painted on a vessel, islands in the background) is what a scribble-trained
model's unannotated regions produce and what HD95 punishes; errors at the object's boundary are the other kind.
Distances are measured in-plane per slice (mm, with the real spacing), as 2d models predict.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def error_location(predictions: Path, references: Path, distance_mm: float) -> dict:
    """Voxel counts over all cases: correct foreground, missed foreground, wrong foreground, and wrong foreground
    farther than distance_mm (in-plane) from any reference foreground."""
    counts = dict(correct=0, missed=0, wrong=0, wrong_far=0)
    for reference_path in sorted(references.glob("*.nii.gz")):
        reference_image = sitk.ReadImage(str(reference_path))
        reference = sitk.GetArrayFromImage(reference_image)
        prediction = sitk.GetArrayFromImage(sitk.ReadImage(str(predictions / reference_path.name)))
        in_plane = reference_image.GetSpacing()[::-1][-2:]
        distance = np.stack([ndimage.distance_transform_edt(frame == 0, sampling=in_plane)
                             for frame in reference.reshape((-1, *reference.shape[-2:]))]).reshape(reference.shape)
        wrong = (prediction > 0) & (prediction != reference)
        counts["correct"] += int(((prediction == reference) & (reference > 0)).sum())
        counts["missed"] += int(((reference > 0) & (prediction != reference)).sum())
        counts["wrong"] += int(wrong.sum())
        counts["wrong_far"] += int((wrong & (distance > distance_mm)).sum())
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--references", type=Path, required=True, help="dense label maps, named as the predictions")
    parser.add_argument("--distance-mm", type=float, default=10.0)
    args = parser.parse_args(argv)
    counts = error_location(args.predictions, args.references, args.distance_mm)
    share = 100 * counts["wrong_far"] / max(counts["wrong"], 1)
    print(f"correct foreground {counts['correct']}, missed {counts['missed']}, wrong {counts['wrong']} "
          f"(per correct voxel: {counts['wrong'] / max(counts['correct'], 1):.2f}); of the wrong, {share:.1f} % lie "
          f"> {args.distance_mm:g} mm from the reference foreground")
    return 0


if __name__ == "__main__":
    sys.exit(main())
