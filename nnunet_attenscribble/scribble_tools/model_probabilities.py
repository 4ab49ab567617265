"""Class probabilities of a trained nnU-Net model for one case at a time, through nnU-Net's own predictor.

nnUNetPredictor preprocesses, runs the sliding window (with test-time mirroring as the checkpoint allows) and
resamples the softmax back to the image's original grid, exactly as `nnUNetv2_predict --save_probabilities` would;
one case at a time keeps memory at one case's probabilities, whatever the dataset's size."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .errors import ScribbleToolError


def model_folder_from_names(results_dir, dataset: str, trainer: str, configuration: str, plans: str) -> Path:
    """nnU-Net's results layout: <nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>."""
    if not results_dir:
        raise ScribbleToolError(None, "no model: give --model, or set nnUNet_results for -tr / -c")
    return Path(results_dir) / dataset / f"{trainer}__{plans}__{configuration}"


def checked_folds(model: Path, folds: Optional[Sequence[str]], checkpoint: str) -> List[str]:
    """The folds to use, after checking the files nnUNetPredictor reads: dataset.json, plans.json and each fold's
    checkpoint. No folds given: every fold_<n> holding the checkpoint, as nnUNetv2_predict chooses."""
    if not model.is_dir():
        raise ScribbleToolError(model, "model folder not found (nnU-Net's <trainer>__<plans>__<configuration> "
                                       "folder under nnUNet_results)")
    for name in ("dataset.json", "plans.json"):
        if not (model / name).is_file():
            raise ScribbleToolError(model / name, "missing: not a trained nnU-Net model folder")
    if not folds:
        folds = sorted((p.name[len("fold_"):] for p in model.glob("fold_*")
                        if p.name[len("fold_"):].isdigit() and (p / checkpoint).is_file()), key=int)
        if not folds:
            raise ScribbleToolError(model, f"no fold_<n>/{checkpoint}: train a fold to the end, or give -f (e.g. -f all)")
    for fold in folds:
        if not (model / f"fold_{fold}" / checkpoint).is_file():
            raise ScribbleToolError(model / f"fold_{fold}" / checkpoint,
                                    "missing: train this fold to the end, or choose the folds / --checkpoint that exist")
    return list(folds)


def check_same_labels(model_dataset_json: Path, source_dataset_json: Path) -> None:
    """The model must predict the classes of the dataset it pseudo-labels (same names, same values)."""
    labels = [json.loads(Path(path).read_text()).get("labels") for path in (model_dataset_json, source_dataset_json)]
    if labels[0] != labels[1]:
        raise ScribbleToolError(model_dataset_json, f"the model's labels {labels[0]} differ from those of "
                                                    f"{source_dataset_json} ({labels[1]}): pseudo-label the dataset "
                                                    "the model was trained on")


class ModelProbabilities:
    """Callable: image files of one case -> softmax probabilities (classes first, then the image's array axes)."""

    def __init__(self, model: Path, folds: Sequence[str], checkpoint: str = "checkpoint_final.pth",
                 device: Optional[str] = None, mirroring: bool = True):
        import torch
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        self.predictor = nnUNetPredictor(use_mirroring=mirroring, device=torch.device(device), allow_tqdm=False)
        self.predictor.initialize_from_trained_model_folder(
            str(model), [fold if fold == "all" else int(fold) for fold in folds], checkpoint)
        if self.predictor.label_manager.has_regions:
            raise ScribbleToolError(model, "is a region-based model (overlapping labels); pseudo-labels need one "
                                           "class per voxel")
        self.preprocessor = self.predictor.configuration_manager.preprocessor_class(verbose=False)

    def __call__(self, image_files: List[Path]) -> np.ndarray:
        from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape
        import torch

        predictor = self.predictor
        data, _, properties = self.preprocessor.run_case([str(p) for p in image_files], None,
                                                         predictor.plans_manager, predictor.configuration_manager,
                                                         predictor.dataset_json)
        logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
        _, probabilities = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits, predictor.plans_manager, predictor.configuration_manager, predictor.label_manager, properties,
            return_probabilities=True)
        return np.asarray(probabilities, dtype=np.float32)
