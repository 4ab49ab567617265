"""`attenscribble pseudolabel`: a trained model's confident predictions on the training images become labels of a
new scribble dataset, for a second nnU-Net training.

Per voxel: the scribble where one was drawn (scribbles are never overruled); elsewhere the model's class (argmax
of its softmax) where the probability of that class reaches the class's threshold; `ignore` everywhere else.
Optionally the model's segmentation is first reduced to its largest connected foreground component (the rule of
`attenscribble postprocess`); the voxels that rule removes stay unlabelled. Images, test images and dense labels
are linked from the source dataset, not copied.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .errors import ScribbleToolError
from .evaluate import dataset_json_labels
from .image_io import array_with_geometry, read_image, write_image
from .postprocess import keep_largest_components
from .raw_dataset import DatasetSpec, check_dataset_id_free
from .safe_output import atomic_output_folder
from .strict_json import dumps_strict

COMPONENT_RULES = ("off", "foreground", "per-class")
LINKED_FOLDERS = ("imagesTs", "denseLabelsTr", "denseLabelsTs")
SUMMARY_FILE = "pseudolabel_summary.json"


def model_claims(probabilities: np.ndarray, component_rule: str = "off"):
    """(class, its probability, kept) per voxel: the model's argmax segmentation, the softmax of the chosen class,
    and whether the connected-component rule keeps the voxel's class ('off': every voxel kept)."""
    prediction = probabilities.argmax(0)
    confidence = np.take_along_axis(probabilities, prediction[None], 0)[0]
    if component_rule == "off":
        return prediction, confidence, np.ones(prediction.shape, bool)
    kept = keep_largest_components(prediction.copy(), per_class=component_rule == "per-class") == prediction
    return prediction, confidence, kept


def pseudo_label(prediction: np.ndarray, confidence: np.ndarray, kept: np.ndarray, scribble: np.ndarray,
                 thresholds: np.ndarray, ignore_value: int) -> np.ndarray:
    """The label map: the scribble where annotated, else the model's class where kept and confident enough (its
    probability >= thresholds[class]), else `ignore_value`."""
    confident = kept & (confidence >= thresholds[prediction])
    label = np.where(confident, prediction, ignore_value)
    annotated = scribble != ignore_value
    label[annotated] = scribble[annotated]
    return label.astype(np.uint8)


@dataclass
class Tally:
    """Voxel counts over all cases, per class: scribbled, labelled by the model (scribbles excluded) and, where
    dense labels exist, how many of those agree with them and how many dense voxels of the class carry it."""
    num_classes: int
    voxels: int = 0
    scribbled: np.ndarray = field(init=False)
    labelled: np.ndarray = field(init=False)
    correct: np.ndarray = field(init=False)
    dense: np.ndarray = field(init=False)
    dense_covered: np.ndarray = field(init=False)

    def __post_init__(self):
        for name in ("scribbled", "labelled", "correct", "dense", "dense_covered"):
            setattr(self, name, np.zeros(self.num_classes, np.int64))

    def add(self, label: np.ndarray, scribble_mask: np.ndarray, dense: Optional[np.ndarray]) -> None:
        count = lambda values: np.bincount(values.ravel(), minlength=self.num_classes + 1)[: self.num_classes]
        self.voxels += label.size
        self.scribbled += count(label[scribble_mask])
        by_model = label[~scribble_mask]
        self.labelled += count(by_model)
        if dense is not None:
            self.correct += count(by_model[by_model == dense[~scribble_mask]])
            self.dense += count(dense)
            self.dense_covered += count(dense[label == dense])

    def as_dict(self, class_names: Sequence[str], with_dense: bool) -> dict:
        def per_class(numerator, denominator):
            return {name: (float(n / d) if d else None) for name, n, d in zip(class_names, numerator, denominator)}
        summary = {"scribbled_fraction": per_class(self.scribbled, [self.voxels] * self.num_classes),
                   "model_labelled_fraction": per_class(self.labelled, [self.voxels] * self.num_classes),
                   "unlabelled_fraction": float(1 - (self.scribbled.sum() + self.labelled.sum()) / self.voxels)}
        if with_dense:
            summary["model_label_precision"] = per_class(self.correct, self.labelled)
            summary["dense_coverage"] = per_class(self.dense_covered, self.dense)
        return summary


@dataclass
class PseudoLabelSettings:
    thresholds: Sequence[float]              # one per class (background first)
    component_rule: str = "off"
    sweep: Sequence[float] = field(default_factory=list)  # extra uniform thresholds tallied in the summary only


def source_classes(source: Path) -> tuple[dict, List[str], int]:
    """(dataset.json, class names in label order, ignore value) of a scribble dataset."""
    dataset_json_path = source / "dataset.json"
    if not dataset_json_path.is_file():
        raise ScribbleToolError(source, "no dataset.json: not an nnU-Net raw dataset folder")
    classes, ignore = dataset_json_labels(dataset_json_path)  # the labels as `evaluate` reads them
    try:
        dataset_json = json.loads(dataset_json_path.read_text())
        dataset_json["file_ending"]
    except (ValueError, KeyError, TypeError) as error:
        raise ScribbleToolError(dataset_json_path, f"cannot be read as nnU-Net's dataset.json ({error})")
    if ignore is None:
        raise ScribbleToolError(dataset_json_path, "has no 'ignore' label: pseudo-labels start from a scribble dataset")
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise ScribbleToolError(dataset_json_path, "labels must be the classes 0..K-1 (region-based labels are not "
                                                   "supported)")
    if ignore != len(classes) + 1:
        raise ScribbleToolError(dataset_json_path, f"the ignore label must be the highest value ({len(classes) + 1})")
    return dataset_json, ["background"] + [classes[value] for value in sorted(classes)], ignore


def check_thresholds(thresholds: Sequence[float], class_names: Sequence[str]) -> np.ndarray:
    """One threshold for every class, or one per class in label order; each in [0, 1]."""
    if len(thresholds) not in (1, len(class_names)):
        raise ScribbleToolError(None, f"--threshold: give one value or one per class ({len(class_names)}: "
                                      f"{' '.join(class_names)}), got {len(thresholds)}")
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        raise ScribbleToolError(None, f"--threshold: probabilities lie in [0, 1], got {list(thresholds)}")
    return np.broadcast_to(np.asarray(thresholds, np.float64), (len(class_names),)).copy()


def training_cases(source: Path, dataset_json: dict) -> Dict[str, dict]:
    """case -> {'images': [...], 'label': ...} as nnU-Net lists them, every file present."""
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets
    cases = get_filenames_of_train_images_and_targets(str(source), dict(dataset_json))
    if not cases:
        raise ScribbleToolError(source / "imagesTr", "no training images")
    channels = len(dataset_json.get("channel_names", dataset_json.get("modality", {})))
    for case, files in cases.items():
        for path in [*files["images"], files["label"]]:
            if not Path(path).is_file():
                raise ScribbleToolError(path, f"missing (training case {case})")
        if channels and len(files["images"]) != channels:
            raise ScribbleToolError(source / "imagesTr", f"case {case} has {len(files['images'])} image(s), "
                                                         f"dataset.json names {channels} channel(s)")
    return cases


def link(target: Path, link_path: Path) -> None:
    """A symbolic link to the resolved target; a copy where the file system has no symbolic links."""
    link_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        link_path.symlink_to(Path(target).resolve())
    except OSError:
        shutil.copyfile(target, link_path)


def _fit_to_label(probabilities: np.ndarray, label_shape, path) -> np.ndarray:
    """nnU-Net's readers give 2D images a leading axis of 1: drop such axes to match the label map."""
    if probabilities.shape[1:] == tuple(label_shape):
        return probabilities
    if int(np.prod(probabilities.shape[1:])) == int(np.prod(label_shape)):
        return probabilities.reshape((probabilities.shape[0], *label_shape))
    raise ScribbleToolError(path, f"shape {tuple(label_shape)} differs from the model's prediction "
                                  f"{probabilities.shape[1:]} of its image")


def write_pseudolabel_dataset(source, name: str, raw_dir, load_model: Callable[[], Callable[[List[Path]], np.ndarray]],
                              settings: PseudoLabelSettings, overwrite: bool = False, provenance: dict = None,
                              inputs: Sequence = ()) -> tuple[Path, dict]:
    """Write raw_dir/name: the source's training cases with pseudo-labels as labelsTr, everything else linked.
    `load_model()` returns the function from a case's image files to class probabilities; it is called once every
    input is checked and the output claimed, so bad input fails before a model is loaded. Returns (dataset folder,
    summary)."""
    source = Path(source)
    dataset_json, class_names, ignore = source_classes(source)
    spec = DatasetSpec(name, class_names, list(dataset_json.get("channel_names", {"0": "image"}).values()),
                       dataset_json["file_ending"])
    thresholds = check_thresholds(settings.thresholds, class_names)
    if settings.component_rule not in COMPONENT_RULES:
        raise ScribbleToolError(None, f"component rule must be one of {COMPONENT_RULES}")
    check_dataset_id_free(spec, raw_dir)
    cases = training_cases(source, dataset_json)
    ending = spec.file_ending
    with_dense = (source / "denseLabelsTr").is_dir()
    tally = Tally(len(class_names))
    sweep = {t: Tally(len(class_names)) for t in settings.sweep}
    destination = Path(raw_dir) / name
    with atomic_output_folder(destination, overwrite, [source, *inputs]) as folder:
        predict = load_model()
        for case, files in tqdm(sorted(cases.items()), desc=f"pseudo-labelling {name}", unit="case"):
            scribble_image = read_image(files["label"], role="label")
            scribble = sitk.GetArrayFromImage(scribble_image)
            dense = None
            if with_dense:
                dense_path = source / "denseLabelsTr" / f"{case}{ending}"
                dense = sitk.GetArrayFromImage(read_image(dense_path, role="label")) if dense_path.is_file() else None
            for image in files["images"]:  # nnU-Net's reader would zero-fill a truncated file without a word
                read_image(image)
            probabilities = _fit_to_label(predict([Path(p) for p in files["images"]]), scribble.shape, files["label"])
            if probabilities.shape[0] != len(class_names):
                raise ScribbleToolError(files["label"], f"the model predicts {probabilities.shape[0]} classes, the "
                                                        f"dataset has {len(class_names)}")
            claims = model_claims(probabilities, settings.component_rule)
            label = pseudo_label(*claims, scribble, thresholds, ignore)
            scribble_mask = scribble != ignore
            tally.add(label, scribble_mask, dense)
            for threshold, swept in sweep.items():
                swept.add(pseudo_label(*claims, scribble, np.full(len(class_names), threshold), ignore),
                          scribble_mask, dense)
            write_image(array_with_geometry(label, scribble_image), folder / "labelsTr" / f"{case}{ending}")
            for index, image in enumerate(files["images"]):
                link(Path(image), folder / "imagesTr" / f"{case}_{index:04d}{ending}")
        for linked in LINKED_FOLDERS:
            if (source / linked).is_dir():
                for path in sorted((source / linked).iterdir()):
                    link(path, folder / linked / path.name)
        (folder / "dataset.json").write_text(json.dumps({**dataset_json, "numTraining": len(cases)}, indent=2))
        summary = {"source": str(source.resolve()), **(provenance or {}),
                   "thresholds": dict(zip(class_names, map(float, thresholds))),
                   "component_rule": settings.component_rule, "cases": len(cases),
                   **tally.as_dict(class_names, with_dense and tally.dense.sum() > 0),
                   "sweep": [{"threshold": float(t), **swept.as_dict(class_names, with_dense and swept.dense.sum() > 0)}
                             for t, swept in sweep.items()]}
        (folder / SUMMARY_FILE).write_text(dumps_strict(summary))
    return destination, summary


def format_summary(summary: dict) -> str:
    """A per-class table of what the new labels hold (percent of all training voxels; with dense labels, how many
    of the model's labels agree with them and how much of each class is labelled)."""
    with_dense = "model_label_precision" in summary
    columns = ["class", "threshold", "scribbled %", "labelled by the model %"]
    columns += ["model labels correct %", "class voxels labelled %"] if with_dense else []
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    percent = lambda value: "–" if value is None else f"{100 * value:.2f}"
    for name, threshold in summary["thresholds"].items():
        cells = [name, f"{threshold:g}", percent(summary["scribbled_fraction"][name]),
                 percent(summary["model_labelled_fraction"][name])]
        if with_dense:
            cells += [percent(summary["model_label_precision"][name]), percent(summary["dense_coverage"][name])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"unlabelled (ignore): {percent(summary['unlabelled_fraction'])} % of the training voxels")
    for swept in summary.get("sweep", []):
        labelled = sum(v for v in swept["model_labelled_fraction"].values() if v is not None)
        correct = ", ".join(f"{name} {percent(value)}" for name, value in swept.get("model_label_precision", {}).items())
        lines.append(f"threshold {swept['threshold']:g}: {percent(labelled)} % labelled by the model"
                     + (f"; correct: {correct} %" if correct else ""))
    return "\n".join(lines)
