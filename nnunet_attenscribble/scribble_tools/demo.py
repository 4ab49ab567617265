"""`attenscribble demo`: the whole workflow on an embedded synthetic dataset, no download needed.

synthetic images + dense labels -> simulated scribbles -> nnU-Net raw dataset -> nnUNetv2_plan_and_preprocess
-> nnUNetv2_train -tr AttenScribbleTrainer (short budget) -> nnUNetv2_predict -> dense-label evaluation ->
overlay PNGs. It runs nnU-Net's own executables, exactly as a user would.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from .errors import ScribbleToolError
from .evaluate import class_names_from_dataset_json, evaluate_folders, format_table
from .nnunet_progress import PredictionProgress, TrainingProgress
from .overlay import overlay_folders
from .raw_dataset import write_raw_dataset
from .synthetic import CLASS_NAMES, synthetic_cases, synthetic_spec

DATASET_ID = 990
DATASET_NAME = "Dataset990_AttenScribbleDemo"
TRAINER = "AttenScribbleTrainer"


def _executable(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise ScribbleToolError(name, "nnU-Net executable not found (is nnunetv2 installed?)")
    return found


def _step(title: str, command, env, log: Path, progress: Optional[Callable[[str], Optional[str]]] = None) -> None:
    """Run one nnU-Net executable with its whole output in `log`; `progress` turns output lines into progress
    lines on the screen."""
    print(f"[demo] {title} ...", flush=True)
    started = time.time()
    with open(log, "a") as handle:
        handle.write(f"\n$ {' '.join(map(str, command))}\n")
        handle.flush()
        process = subprocess.Popen([_executable(command[0]), *map(str, command[1:])],
                                   env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in process.stdout:
            handle.write(line)
            message = progress(line.rstrip("\n")) if progress else None
            if message:
                print(f"[demo]   {message}", flush=True)
        returncode = process.wait()
    if returncode != 0:
        raise ScribbleToolError(log, f"{title} failed (exit {returncode}); see the log")
    print(f"[demo] {title} done in {time.time() - started:.0f} s", flush=True)


def run_demo(output: Path, epochs: int = 8, iterations: int = 25, overwrite: bool = False) -> dict:
    output = output.resolve()
    if output.exists():
        if not overwrite:
            raise ScribbleToolError(output, "already exists (use --overwrite to replace it)")
        shutil.rmtree(output)
    raw, preprocessed, results = output / "nnUNet_raw", output / "nnUNet_preprocessed", output / "nnUNet_results"
    log = output / "demo.log"
    output.mkdir(parents=True)
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    env = {**os.environ, "nnUNet_raw": str(raw), "nnUNet_preprocessed": str(preprocessed),
           "nnUNet_results": str(results), "nnUNet_compile": "false",
           "ATTENSCRIBBLE_EPOCHS": str(epochs), "ATTENSCRIBBLE_ITERATIONS_PER_EPOCH": str(iterations),
           "ATTENSCRIBBLE_VAL_ITERATIONS": "5"}
    env.setdefault("ATTENSCRIBBLE_SEED", "0")  # the same demo model on every run (on the CPU)
    env.setdefault("nnUNet_def_n_proc", "2")

    print(f"[demo] writing a synthetic scribble dataset to {raw / DATASET_NAME}", flush=True)
    dataset = write_raw_dataset(synthetic_cases(16, 4, (8, 64, 64), (6.0, 1.0, 1.0), "2d", seed=7),
                                synthetic_spec(DATASET_NAME), raw)
    # nnU-Net's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which fails for 0 (single-threaded loading)
    plan_env = {k: v for k, v in env.items() if not (k == "nnUNet_n_proc_DA" and v.strip() == "0")}
    _step("planning and preprocessing (nnUNetv2_plan_and_preprocess)",
          ["nnUNetv2_plan_and_preprocess", "-d", DATASET_ID, "-c", "2d", "-np", "2", "--verify_dataset_integrity"],
          plan_env, log)
    _step(f"training {TRAINER} for {epochs} x {iterations} iterations on {device} (nnUNetv2_train)",
          ["nnUNetv2_train", DATASET_ID, "2d", "all", "-tr", TRAINER, "-device", device],
          {**env, "nnUNet_n_proc_DA": env.get("nnUNet_n_proc_DA", "1")}, log, TrainingProgress(epochs))
    predictions = output / "predictions"
    _step("predicting the test images (nnUNetv2_predict)",
          ["nnUNetv2_predict", "-i", dataset / "imagesTs", "-o", predictions, "-d", DATASET_ID, "-c", "2d",
           "-f", "all", "-tr", TRAINER, "-device", device], env, log, PredictionProgress())
    classes = class_names_from_dataset_json(dataset / "dataset.json")
    summary = evaluate_folders(predictions, dataset / "denseLabelsTs", classes, output / "evaluation")
    print(format_table(summary))
    pictures = overlay_folders(dataset / "imagesTs", predictions, output / "overlays", dataset / "denseLabelsTs",
                               ignore_value=len(CLASS_NAMES), class_names=classes)
    print(f"[demo] done. dataset: {dataset}\n[demo] model: {results / DATASET_NAME}\n"
          f"[demo] predictions: {predictions}\n[demo] metrics: {output / 'evaluation'}\n"
          f"[demo] pictures: {pictures[0].parent} ({len(pictures)} PNG)\n[demo] log of nnU-Net's output: {log}")
    return summary
