"""`attenscribble evaluate`: predictions vs dense labels, per case and class, written as CSV + JSON."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import check_same_geometry, read_label_array
from .metrics import class_metrics
from .pairing import pair_predictions
from .safe_output import check_output_apart_from_inputs, write_text_atomically
from .strict_json import dumps_strict

METRICS = ("dice", "hd95", "assd")


def dataset_json_labels(path) -> Tuple[Dict[int, str], Optional[int]]:
    """(foreground classes, ignore value or None) of a dataset.json."""
    try:
        labels = json.loads(Path(path).read_text())["labels"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ScribbleToolError(path, f"cannot read labels from dataset.json ({error})")
    if any(not isinstance(v, int) for v in labels.values()):
        raise ScribbleToolError(path, "region-based labels (lists of values) are not supported here")
    classes = {int(v): k for k, v in labels.items() if k not in ("background", "ignore")}
    if not classes:
        raise ScribbleToolError(path, "dataset.json names no foreground class")
    return classes, labels.get("ignore")


def class_names_from_dataset_json(path) -> Dict[int, str]:
    """Foreground classes of a dataset.json (ignore label excluded)."""
    return dataset_json_labels(path)[0]


def _check_values(array: np.ndarray, classes: Dict[int, str], ignore: Optional[int], path, source: str) -> None:
    """Every value of a label map must be background or a known class."""
    unknown = sorted(int(v) for v in np.unique(array) if v != 0 and int(v) not in classes)
    if ignore is not None and ignore in unknown:
        raise ScribbleToolError(path, f"holds the ignore label ({ignore}): scores need dense labels, not scribbles")
    if unknown:
        raise ScribbleToolError(path, f"label value(s) {unknown} are not classes of {source} "
                                      f"({', '.join(f'{v}={n}' for v, n in sorted(classes.items()))})")


def _mean(values):
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def classes_dataset_json(prediction_dir, dataset_json=None) -> Optional[Path]:
    """The dataset.json naming the classes of `prediction_dir`: the one given, else the one nnU-Net writes beside its
    predictions, else None."""
    if dataset_json is not None:
        return Path(dataset_json)
    beside_predictions = Path(prediction_dir) / "dataset.json"
    return beside_predictions if beside_predictions.is_file() else None


def evaluation_classes(prediction_dir, reference_files: List[Path], dataset_json=None):
    """(classes, ignore value, where they come from): --dataset-json; else the dataset.json nnU-Net writes beside its
    predictions; else the union of the foreground values of all references."""
    source = classes_dataset_json(prediction_dir, dataset_json)
    if source is not None:
        return (*dataset_json_labels(source), str(source))
    values = set()
    for path in tqdm(reference_files, desc="collecting classes", unit="case"):
        values |= {int(v) for v in np.unique(read_label_array(path)[1]) if v > 0}
    if not values:
        raise ScribbleToolError(reference_files[0].parent, "the references hold no foreground class; give "
                                                           "--dataset-json to name the classes")
    return {v: f"class {v}" for v in sorted(values)}, None, "the values of the references"


def evaluate_folders(prediction_dir, reference_dir, classes: Optional[Dict[int, str]] = None,
                     output_dir=None, dataset_json=None) -> dict:
    """Score every reference case; a missing prediction, an unknown label value or a geometry mismatch is an error.
    `classes` given: those; otherwise evaluation_classes(). Writes nothing unless every case was scored."""
    pairs = pair_predictions(prediction_dir, reference_dir)
    if output_dir is not None:
        check_output_apart_from_inputs(output_dir, [prediction_dir, reference_dir])
    ignore, source = None, "the given classes"
    if classes is None:
        classes, ignore, source = evaluation_classes(prediction_dir, [reference for reference, _ in pairs.values()],
                                                     dataset_json)
    rows = []
    for name, (reference_path, prediction_path) in tqdm(pairs.items(), desc="evaluating", unit="case"):
        reference_image, reference = read_label_array(reference_path)
        prediction_image, prediction = read_label_array(prediction_path)
        check_same_geometry(reference_image, prediction_image, prediction_path)
        _check_values(reference, classes, ignore, reference_path, source)
        _check_values(prediction, classes, ignore, prediction_path, source)
        spacing = tuple(reversed(reference_image.GetSpacing()))
        for value, class_name in classes.items():
            scores = class_metrics(prediction == value, reference == value, spacing)
            rows.append({"case": name, "class": class_name, "value": value, **scores,
                         "empty_prediction": bool((reference == value).any() and not (prediction == value).any())})
    per_class = {}
    for class_name in classes.values():
        class_rows = [r for r in rows if r["class"] == class_name]
        per_class[class_name] = {m: _mean([r[m] for r in class_rows]) for m in METRICS}
        per_class[class_name]["empty_predictions"] = sum(r["empty_prediction"] for r in class_rows)
    summary = {"cases": len(pairs), "classes_from": source, "per_class": per_class,
               "mean": {m: _mean([c[m] for c in per_class.values()]) for m in METRICS},
               "note": "means over cases, then classes; an empty prediction of a present class scores Dice 0 and "
                       "HD95/ASSD = volume diagonal (mm); null: undefined (the class is absent from every reference "
                       "and prediction)"}
    if output_dir is not None:
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomically(Path(output_dir) / "metrics_per_case.csv", table.getvalue())
        write_text_atomically(Path(output_dir) / "summary.json", dumps_strict(summary))
    return summary


def format_table(summary: dict) -> str:
    lines = [f"{'class':<20}{'Dice':>8}{'HD95 mm':>10}{'ASSD mm':>10}{'empty':>7}"]
    for name, scores in summary["per_class"].items():
        lines.append(f"{name:<20}{scores['dice']:>8.4f}{scores['hd95']:>10.2f}{scores['assd']:>10.2f}"
                     f"{scores['empty_predictions']:>7d}")
    mean = summary["mean"]
    lines.append(f"{'mean':<20}{mean['dice']:>8.4f}{mean['hd95']:>10.2f}{mean['assd']:>10.2f}")
    return "\n".join(lines)
