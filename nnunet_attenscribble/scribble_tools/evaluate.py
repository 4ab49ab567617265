"""`attenscribble evaluate`: predictions vs dense labels, per case and class, written as CSV + JSON."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import check_same_geometry, read_image
from .metrics import class_metrics
from .pairing import index_by_case, list_images

METRICS = ("dice", "hd95", "assd")


def class_names_from_dataset_json(path) -> Dict[int, str]:
    """Foreground classes of a dataset.json (ignore label excluded)."""
    try:
        labels = json.loads(Path(path).read_text())["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise ScribbleToolError(path, f"cannot read labels from dataset.json ({error})")
    return {int(v): k for k, v in labels.items() if k not in ("background", "ignore") and isinstance(v, int)}


def _mean(values):
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def evaluate_folders(prediction_dir, reference_dir, classes: Optional[Dict[int, str]] = None,
                     output_dir=None) -> dict:
    """Score every reference case; a missing prediction is an error. Returns the summary dict."""
    references = index_by_case(list_images(reference_dir), reference_dir)
    predictions = index_by_case(list_images(prediction_dir), prediction_dir)
    missing = sorted(set(references) - set(predictions))
    if missing:
        raise ScribbleToolError(prediction_dir, f"no prediction for case(s) {', '.join(missing[:10])}")
    rows = []
    for name in tqdm(sorted(references), desc="evaluating", unit="case"):
        reference_image = read_image(references[name][0])
        prediction_image = read_image(predictions[name][0])
        check_same_geometry(reference_image, prediction_image, predictions[name][0])
        reference = sitk.GetArrayFromImage(reference_image)
        prediction = sitk.GetArrayFromImage(prediction_image)
        spacing = tuple(reversed(reference_image.GetSpacing()))
        if classes is None:
            classes = {int(v): f"class {int(v)}" for v in np.unique(reference) if v > 0}
        for value, class_name in classes.items():
            scores = class_metrics(prediction == value, reference == value, spacing)
            rows.append({"case": name, "class": class_name, "value": value, **scores,
                         "empty_prediction": bool((reference == value).any() and not (prediction == value).any())})
    per_class = {}
    for class_name in classes.values():
        class_rows = [r for r in rows if r["class"] == class_name]
        per_class[class_name] = {m: _mean([r[m] for r in class_rows]) for m in METRICS}
        per_class[class_name]["empty_predictions"] = sum(r["empty_prediction"] for r in class_rows)
    summary = {"cases": len(references), "per_class": per_class,
               "mean": {m: _mean([c[m] for c in per_class.values()]) for m in METRICS},
               "note": "means over cases, then classes; an empty prediction of a present class scores Dice 0 and "
                       "HD95/ASSD = volume diagonal (mm)"}
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        with open(output_dir / "metrics_per_case.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_table(summary: dict) -> str:
    lines = [f"{'class':<20}{'Dice':>8}{'HD95 mm':>10}{'ASSD mm':>10}{'empty':>7}"]
    for name, scores in summary["per_class"].items():
        lines.append(f"{name:<20}{scores['dice']:>8.4f}{scores['hd95']:>10.2f}{scores['assd']:>10.2f}"
                     f"{scores['empty_predictions']:>7d}")
    mean = summary["mean"]
    lines.append(f"{'mean':<20}{mean['dice']:>8.4f}{mean['hd95']:>10.2f}{mean['assd']:>10.2f}")
    return "\n".join(lines)
