"""Scribble benchmark on real data: every trainer on identical plans, data and iteration budgets.

    python benchmarks/scribble_benchmark.py --profile cpu            # 2 cores: the default trainers in ~90 min
    python benchmarks/scribble_benchmark.py --profile cpu --budgets 1 3 9 --trainers nnUNetTrainer_AttenScribbleBudget AttenScribbleTrainer dense
    python benchmarks/scribble_benchmark.py --profile gpu --datasets acdc --parallel 5   # H100: ~7 min in all
    python benchmarks/scribble_benchmark.py --profile gpu --datasets acdc --minutes 5 --parallel 3 \
        --trainers nnUNetTrainer_AttenScribbleBudget AttenScribbleTrainer AttenScribbleTrainer_PlusSimilarity
    (on a lent GPU machine with no package registry: benchmarks/device/prepare.sh here, then gpu_profile.sh there)
    python benchmarks/scribble_benchmark.py --profile smoke          # tiny, for the tests

ACDC 2d: expert scribbles of patients 021-100 (../shared/data/acdc-scribble), patient-wise split (train on
021-080, test on 081-100, both frames of a patient on one side). Hippocampus 3d_fullres: scribbles simulated
by `attenscribble simulate` (seed 0) on ../shared/data/hippocampus-msd, case-wise split (IDs >= 250 test).
Trainers (default): nnU-Net's ignore-label baseline, the default's ablation (partial CE + masked Dice, + masked
CRF, + attention block = AttenScribbleTrainer, + similarity loss) and `dense`, nnU-Net on the dense labels (the
upper bound). `--budgets` multiplies the profile's iterations (1 3 9: three runs of each trainer and seed); the
poly LR schedule spans each whole run. `--minutes M` instead gives every trainer the same wall-clock time: a short
timing run of each (all at once under --parallel, as the timed runs) measures its seconds per epoch, and its run
gets the whole epochs that fit M minutes, the poly LR spanning them. A two-stage row
(`two-stage-t0.9-AttenScribbleTrainer`) at budget B is the default trained for 1x, `attenscribble pseudolabel` on
its training cases, and a second trainer on those labels for B - 1: the same total iterations as a single-stage
run at B. Evaluation: `attenscribble evaluate` against dense labels of the test cases.
Every finished run is recorded as one JSON file under --results-dir (default: benchmarks/results/<profile>,
committed), and the report (table trainer x budget, Dice and HD95 against iterations) is built from all records
there. Resumable: recorded runs and finished steps (datasets, preprocessing, trainings, predictions) are skipped; a
training killed midway continues from nnU-Net's latest checkpoint.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from experiment_trainers import experiment_trainer_environment  # noqa: E402
from benchmark_report import (DENSE, TWO_STAGE, budget_label, format_report, load_records, plot_report,  # noqa: E402
                              record_path, write_record)
from nnunet_attenscribble import __version__  # noqa: E402
from nnunet_attenscribble.scribble_tools.cli import main as attenscribble  # noqa: E402
from nnunet_attenscribble.scribble_tools.evaluate import class_names_from_dataset_json, evaluate_folders  # noqa: E402

SCRIBBLE_TRAINERS = ["nnUNetTrainer_AttenScribbleBudget", "AttenScribbleTrainer_PartialCEDice",
                     "AttenScribbleTrainer_PartialCEDice_CRF", "AttenScribbleTrainer",
                     "AttenScribbleTrainer_PlusSimilarity"]
DEFAULT_TRAINERS = SCRIBBLE_TRAINERS + [DENSE]  # the baseline, the default's ablation, the upper bound
DENSE_TRAINER = "nnUNetTrainer_AttenScribbleBudget"
STAGE1_TRAINER = "AttenScribbleTrainer"  # two-stage rows: stage 1 is the default at 1x
PSEUDO_DATASET = {"acdc": (821, "Dataset821_ACDCPseudo"), "hippocampus": (822, "Dataset822_HippocampusSimPseudo")}


@dataclass(frozen=True)
class Profile:
    """Budget and plan reduction, applied identically to every trainer."""
    acdc_iterations: int
    hippocampus_iterations: int
    acdc_spacing_factor: float     # in-plane spacing multiplier (2: half resolution)
    hippocampus_spacing_factor: float
    feature_factor: float          # features_per_stage multiplier
    acdc_batch_size: int           # 0: keep nnU-Net's
    hippocampus_batch_size: int
    drop_stages: int               # encoder stages removed from the end
    acdc_train_ids: str = "21-80"
    acdc_test_ids: str = "81-100"
    hippocampus_max_cases: int = 0  # 0: all 200
    tta: bool = True
    iterations_per_epoch: int = 50  # a budget's iterations run as epochs of this many (fewer only below one epoch)


PROFILES = {
    "cpu": Profile(acdc_iterations=600, hippocampus_iterations=400, acdc_spacing_factor=2.0,
                   hippocampus_spacing_factor=1.0, feature_factor=0.5,  # 3d batch 4: 2.7x faster steps than 8
                   acdc_batch_size=8, hippocampus_batch_size=4, drop_stages=1, tta=False),
    "gpu": Profile(acdc_iterations=400, hippocampus_iterations=400, acdc_spacing_factor=1.0,  # 15-min GPU lease
                   hippocampus_spacing_factor=1.0, feature_factor=1.0,
                   acdc_batch_size=0, hippocampus_batch_size=0, drop_stages=0),
    "smoke": Profile(acdc_iterations=4, hippocampus_iterations=4, acdc_spacing_factor=4.0,
                     hippocampus_spacing_factor=2.0, feature_factor=0.25,
                     acdc_batch_size=2, hippocampus_batch_size=2, drop_stages=2, acdc_train_ids="21-23",
                     acdc_test_ids="81",
                     hippocampus_max_cases=8, tta=False, iterations_per_epoch=2),
}


def log(message: str) -> None:
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def nnunet(command, env, log_file: Path) -> None:
    beside_python = Path(sys.executable).parent / command[0]
    executable = beside_python if beside_python.is_file() else shutil.which(command[0], path=env.get("PATH"))
    if executable is None:
        raise RuntimeError(f"{command[0]} is neither beside {sys.executable} nor on PATH")
    with open(log_file, "a") as handle:
        handle.write(f"\n$ {' '.join(map(str, command))}\n")
        handle.flush()
        result = subprocess.run([str(executable), *map(str, command[1:])], env=env, stdout=handle,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed, see {log_file}")


def dense_copy(scribble_dataset: Path, dense_dataset: Path) -> None:
    """The same images with dense labels as labelsTr (no ignore label): the upper bound's dataset."""
    if dense_dataset.exists():
        return
    partial = dense_dataset.with_name(dense_dataset.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(scribble_dataset / "imagesTr", partial / "imagesTr")
    shutil.copytree(scribble_dataset / "denseLabelsTr", partial / "labelsTr")
    spec = json.loads((scribble_dataset / "dataset.json").read_text())
    spec["labels"].pop("ignore")
    (partial / "dataset.json").write_text(json.dumps(spec, indent=2))
    partial.rename(dense_dataset)


def reduced_configuration(configuration: dict, profile: Profile, spacing_factor: float, batch_size: int) -> dict:
    """nnU-Net's configuration made smaller for the CPU: coarser in-plane spacing, fewer features and
    stages, smaller batch. Returns a full configuration dict (no inheritance)."""
    reduced = copy.deepcopy(configuration)
    dims = len(reduced["patch_size"])
    in_plane = [dims - 2, dims - 1]
    for axis in in_plane:
        reduced["spacing"][axis] *= spacing_factor
    arch = reduced["architecture"]["arch_kwargs"]
    stages = arch["n_stages"] - profile.drop_stages
    arch["n_stages"] = stages
    for key in ("features_per_stage", "kernel_sizes", "strides", "n_conv_per_stage", "n_blocks_per_stage"):
        if key in arch:
            arch[key] = arch[key][:stages]
    arch["n_conv_per_stage_decoder"] = arch["n_conv_per_stage_decoder"][:stages - 1]
    arch["features_per_stage"] = [max(8, int(f * profile.feature_factor)) for f in arch["features_per_stage"]]
    divisor = [1] * dims
    for stride in arch["strides"]:
        divisor = [d * s for d, s in zip(divisor, stride)]
    patch = list(reduced["patch_size"])
    for axis in in_plane:
        patch[axis] = int(patch[axis] / spacing_factor)
    reduced["patch_size"] = [max(d, (p // d) * d) for p, d in zip(patch, divisor)]
    if batch_size:
        reduced["batch_size"] = batch_size
    reduced["median_image_size_in_voxels"] = [m / (spacing_factor if i in in_plane else 1.0)
                                              for i, m in enumerate(reduced["median_image_size_in_voxels"])]
    return reduced


def plan_and_preprocess(dataset_id: int, dataset_name: str, base_configuration: str, profile_name: str,
                        profile: Profile, spacing_factor: float, batch_size: int, env: dict, log_file: Path,
                        reference_plans: Path = None) -> str:
    """Plan with nnU-Net, add the profile's configuration, preprocess it; returns the configuration name."""
    preprocessed = Path(env["nnUNet_preprocessed"]) / dataset_name
    plans_file = preprocessed / "nnUNetPlans.json"
    name = base_configuration if profile_name == "gpu" else f"{base_configuration}_{profile_name}"
    if (preprocessed / f"nnUNetPlans_{name}").is_dir() and (preprocessed / ".preprocessed").exists():
        return name
    nnunet(["nnUNetv2_extract_fingerprint", "-d", dataset_id, "-np", env["BENCHMARK_PROCESSES"]], env, log_file)
    if reference_plans is None:
        nnunet(["nnUNetv2_plan_experiment", "-d", dataset_id], env, log_file)
    else:  # identical plans for the upper bound: copy the scribble dataset's plans
        plans = json.loads(reference_plans.read_text())
        plans["dataset_name"] = dataset_name
        plans_file.write_text(json.dumps(plans, indent=2))
        shutil.copyfile(Path(env["nnUNet_raw"]) / dataset_name / "dataset.json", preprocessed / "dataset.json")
    plans = json.loads(plans_file.read_text())
    if name != base_configuration:
        configuration = reduced_configuration(plans["configurations"][base_configuration], profile,
                                              spacing_factor, batch_size)
        configuration["data_identifier"] = f"nnUNetPlans_{name}"
        plans["configurations"][name] = configuration
        plans_file.write_text(json.dumps(plans, indent=2))
    nnunet(["nnUNetv2_preprocess", "-d", dataset_id, "-c", name, "-np", env["BENCHMARK_PROCESSES"]], env, log_file)
    (preprocessed / ".preprocessed").write_text(name)
    return name


def write_single_split(dataset_name: str, env: dict, validation_cases: int = 2) -> None:
    """Fold 0 = all training cases (a couple held for nnU-Net's own, cheap, final validation)."""
    preprocessed = Path(env["nnUNet_preprocessed"]) / dataset_name
    raw = Path(env["nnUNet_raw"]) / dataset_name
    cases = sorted(p.name[: -len(".nii.gz")] for p in (raw / "labelsTr").glob("*.nii.gz"))
    split = [{"train": cases, "val": cases[:validation_cases]}]
    (preprocessed / "splits_final.json").write_text(json.dumps(split, indent=2))


@dataclass(frozen=True)
class Job:
    """One training of the benchmark: `trainer` (a class, or DENSE) at `budget` x the profile's iterations, or for
    an equal-time budget ('5min', see budget_label) the iterations fitted to it."""
    trainer: str
    budget: int | str
    seed: int
    iterations: int
    trainer_class: str
    dataset_id: int
    dataset_name: str


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPOSITORY,
                           capture_output=True, text=True).stdout.strip()
    return (result.stdout.strip() or "unknown") + ("+changes" if dirty else "")


CHECKPOINT_EVERY_EPOCHS = 4  # a training killed midway and continued loses at most 4 epochs
CALIBRATION_EPOCHS = 3       # --minutes: epochs timed per trainer before the timed runs


def _checkpoint(path: Path) -> dict:
    import torch
    return torch.load(path, map_location="cpu", weights_only=False)


def finished_epochs(fold: Path) -> int:
    """Epochs an earlier, interrupted or completed, invocation trained in this fold (0: none)."""
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth"):
        if (fold / name).is_file():
            return int(_checkpoint(fold / name)["current_epoch"])
    return 0


def epoch_durations(checkpoint: Path) -> list[float]:
    """Seconds nnU-Net logged for each epoch of a training (start to end of each)."""
    logging = _checkpoint(checkpoint)["logging"]
    return [end - start for start, end in zip(logging["epoch_start_timestamps"], logging["epoch_end_timestamps"])]


def epoch_seconds(checkpoint: Path, epochs: int) -> float:
    """Seconds nnU-Net logged for the first `epochs` epochs of a finished training."""
    return sum(epoch_durations(checkpoint)[:epochs]) if epochs else 0.0


def run_directory(work: Path, kind: str, job: Job) -> Path:
    return work / "runs" / f"{kind}__{job.trainer}__{budget_label(job.budget)}__seed{job.seed}"


def train(job: Job, run_dir: Path, configuration: str, env: dict, epochs: int,
          per_epoch: int) -> tuple[Path, float, int]:
    """nnUNetv2_train of `job` for epochs x per_epoch iterations into run_dir/results, continuing nnU-Net's latest
    checkpoint if a killed run left one; nothing if the training finished before. Returns the fold folder, the
    training's seconds (the wall time of this invocation plus the logged time of the epochs earlier invocations
    finished: what an uninterrupted run takes) and the epochs an earlier invocation had finished."""
    run_dir.mkdir(parents=True, exist_ok=True)
    train_env = {**env, "nnUNet_results": str(run_dir / "results"), "ATTENSCRIBBLE_EPOCHS": str(epochs),
                 "ATTENSCRIBBLE_ITERATIONS_PER_EPOCH": str(per_epoch), "ATTENSCRIBBLE_VAL_ITERATIONS": "2",
                 "ATTENSCRIBBLE_SEED": str(job.seed), "ATTENSCRIBBLE_SAVE_EVERY": str(CHECKPOINT_EVERY_EPOCHS)}
    fold = run_dir / "results" / job.dataset_name / f"{job.trainer_class}__nnUNetPlans__{configuration}" / "fold_0"
    continued_from = finished_epochs(fold)
    started = time.time()
    if not (fold / "checkpoint_final.pth").is_file():
        resumed = f" (continuing after epoch {continued_from})" if continued_from else ""
        log(f"training {run_dir.name} ({epochs} x {per_epoch} iterations){resumed}")
        nnunet(["nnUNetv2_train", job.dataset_id, configuration, 0, "-tr", job.trainer_class, "-device",
                env["BENCHMARK_DEVICE"], "--c"], train_env, run_dir / "nnunet.log")
    return fold, time.time() - started + epoch_seconds(fold / "checkpoint_final.pth", continued_from), continued_from


def train_predict_evaluate(job: Job, kind: str, configuration: str, test_images: Path, dense_labels: Path,
                           classes: dict, work: Path, env: dict, profile: Profile) -> dict:
    """Train (see train()), predict the test images and evaluate them against the dense labels; returns the run's
    record (summary + provenance)."""
    run_dir = run_directory(work, kind, job)
    epochs = max(1, job.iterations // profile.iterations_per_epoch)
    per_epoch = max(1, job.iterations // epochs)
    _, train_seconds, continued_from = train(job, run_dir, configuration, env, epochs, per_epoch)
    device = env["BENCHMARK_DEVICE"]
    predictions = run_dir / "predictions"
    if not (predictions / "predict_from_raw_data_args.json").is_file():
        log(f"predicting {run_dir.name}")
        nnunet(["nnUNetv2_predict", "-i", test_images, "-o", predictions, "-d", job.dataset_id, "-c", configuration,
                "-f", 0, "-tr", job.trainer_class, "-device", device, *([] if profile.tta else ["--disable_tta"])],
               {**env, "nnUNet_results": str(run_dir / "results")}, run_dir / "nnunet.log")
    summary = evaluate_folders(predictions, dense_labels, classes, run_dir / "evaluation")
    return {"dataset": kind, "trainer": job.trainer, "budget": job.budget, "seed": job.seed,
            "iterations": epochs * per_epoch, "configuration": configuration,
            **({"continued_from_epoch": continued_from} if continued_from else {}),
            "train_seconds": round(train_seconds, 1), "version": __version__, "commit": git_commit(),
            "device": device, "machine": f"{platform.node()} {platform.processor() or platform.machine()} "
                                         f"{os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), **summary}


def fitted_iterations(minutes: float, epoch_seconds_measured: float, iterations_per_epoch: int) -> int:
    """Iterations of the whole epochs (at least one) that fit `minutes` of training at the measured seconds per
    epoch."""
    return iterations_per_epoch * max(1, int(minutes * 60 // epoch_seconds_measured))


def calibrated_epoch_seconds(jobs: list[Job], kind: str, configuration: str, work: Path, env: dict, parallel: int,
                             iterations_per_epoch: int) -> dict[tuple[str, int], float]:
    """{(trainer, seed): seconds one epoch takes} for each job while `parallel` jobs train at once, as in the timed
    runs that follow: the median epoch of a CALIBRATION_EPOCHS-epoch training of each job, its first epoch left out
    (it holds the start-up: data workers, cuDNN's algorithm search). The calibration trainings stay in
    work/calibration, so a continued benchmark fits the same epochs."""
    def calibrate(job: Job) -> float:
        run_dir = work / "calibration" / f"{kind}__{job.trainer}__seed{job.seed}"
        fold, _, _ = train(job, run_dir, configuration, env, CALIBRATION_EPOCHS, iterations_per_epoch)
        return statistics.median(epoch_durations(fold / "checkpoint_final.pth")[1:])
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(zip([(job.trainer, job.seed) for job in jobs], pool.map(calibrate, jobs)))


def link_subset(source: Path, folder: Path, keep) -> Path:
    """`folder` anew, holding symbolic links to the files of `source` whose name `keep` accepts."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in sorted(source.iterdir()):
        if keep(path.name):
            (folder / path.name).symlink_to(path)
    return folder


def build_dataset_once(work: Path, name: str, make_arguments) -> Path:
    """nnUNet_raw/<name>, made by the `attenscribble` arguments that make_arguments() returns, unless it exists."""
    raw = work / "nnUNet_raw"
    dataset = raw / name
    if not dataset.exists() and attenscribble(make_arguments() + ["--dataset", name, "--raw-dir", str(raw)]):
        raise RuntimeError(f"building {name} failed")
    return dataset


def prepare_acdc(work: Path, data: Path, profile: Profile) -> Path:
    def arguments():
        from nnunet_attenscribble.scribble_tools.pairing import group_number, parse_id_ranges
        keep = parse_id_ranges(profile.acdc_train_ids) | parse_id_ranges(profile.acdc_test_ids)
        selected = link_subset(data / "acdc-scribble" / "volumes", work / "acdc_h5",
                               lambda name: name.endswith(".h5") and group_number(name) in keep)
        return ["convert", "wsl4mis", "--h5-dir", str(selected), "--reference-dir",
                str(data / "acdc-scribble" / "scribbles-nifti"), "--test-ids", profile.acdc_test_ids]
    return build_dataset_once(work, "Dataset801_ACDCScribble", arguments)


def prepare_hippocampus(work: Path, data: Path, profile: Profile) -> Path:
    return build_dataset_once(work, "Dataset802_HippocampusSimScribble",
                              lambda: hippocampus_arguments(work, data, profile))


def hippocampus_arguments(work: Path, data: Path, profile: Profile) -> list:
    source = data / "hippocampus-msd"
    images, labels = source / "images", source / "labels"
    if profile.hippocampus_max_cases:
        chosen = sorted(p.name for p in images.glob("*.nii.gz"))
        chosen = set(chosen[: profile.hippocampus_max_cases - 2] + chosen[-2:])
        images = link_subset(source / "images", work / "hippo_images", chosen.__contains__)
        labels = link_subset(source / "labels", work / "hippo_labels", chosen.__contains__)
    return ["simulate", "--images", str(images), "--labels", str(labels), "--mode", "2d", "--axis", "0", "--seed",
            "0", "--class-names", "background", "anterior", "posterior", "--test-ids", "250-999"]


def training_jobs(trainers, budgets, seeds, iterations: int, scribble_dataset: tuple, dense_dataset: tuple,
                  pseudo_dataset: tuple = (0, "")) -> list[Job]:
    """Every budget x trainer x seed, in that order (the cheap budgets first); DENSE is nnU-Net's trainer on the
    dense-label dataset; a two-stage row trains its stage-2 trainer for budget - 1 on the pseudo-label dataset (its
    stage 1 is the default's 1x run of the same seed; at budget 1 there is nothing left for stage 2)."""
    jobs = []
    for budget in budgets:
        for trainer in trainers:
            two_stage = TWO_STAGE.match(trainer)
            if two_stage and budget < 2:
                continue
            if two_stage:
                trained, stage_budget = (two_stage["stage2"], *pseudo_dataset), budget - 1
            else:
                trained = (DENSE_TRAINER, *dense_dataset) if trainer == DENSE else (trainer, *scribble_dataset)
                stage_budget = budget
            jobs += [Job(trainer, budget, seed, iterations * stage_budget, *trained) for seed in seeds]
    return jobs


def run_dataset(kind: str, work: Path, data: Path, profile_name: str, profile: Profile, env: dict, trainers,
                budgets, seeds, parallel: int, results_dir: Path, minutes: float = None) -> None:
    """Every budget x trainer x seed of one dataset not yet recorded in results_dir; each finished run is recorded at
    once. Nothing is prepared when every run is recorded; the dense-label dataset only when a dense run is left.
    With `minutes`, budgets are ignored: each trainer x seed trains for whole epochs fitted to that many minutes at
    the speed calibrated_epoch_seconds() measures (the poly LR spans the fitted run)."""
    if kind == "acdc":
        scribble_id, dense_id, dense_name, base = 801, 811, "Dataset811_ACDCDense", "2d"
        scribble_name, iterations = "Dataset801_ACDCScribble", profile.acdc_iterations
        spacing_factor, batch_size = profile.acdc_spacing_factor, profile.acdc_batch_size
    else:
        scribble_id, dense_id, dense_name, base = 802, 812, "Dataset812_HippocampusSimDense", "3d_fullres"
        scribble_name, iterations = "Dataset802_HippocampusSimScribble", profile.hippocampus_iterations
        spacing_factor, batch_size = profile.hippocampus_spacing_factor, profile.hippocampus_batch_size
    datasets = (scribble_id, scribble_name), (dense_id, dense_name), PSEUDO_DATASET[kind]
    planned = ([replace(job, budget=f"{minutes:g}min") for job in training_jobs(trainers, [1], seeds, 0, *datasets)]
               if minutes else training_jobs(trainers, budgets, seeds, iterations, *datasets))
    jobs = [job for job in planned if not record_path(results_dir, kind, job.trainer, job.budget, job.seed).is_file()]
    if not jobs:
        log(f"{kind}: every run asked for is recorded in {results_dir}")
        return
    scribbles = prepare_acdc(work, data, profile) if kind == "acdc" else prepare_hippocampus(work, data, profile)
    log_file = work / "preprocessing.log"
    log(f"{kind}: planning and preprocessing")
    configuration = plan_and_preprocess(scribble_id, scribbles.name, base, profile_name, profile, spacing_factor,
                                        batch_size, env, log_file)
    write_single_split(scribbles.name, env)
    if any(job.trainer == DENSE for job in jobs):
        dense_copy(scribbles, scribbles.parent / dense_name)
        plan_and_preprocess(dense_id, dense_name, base, profile_name, profile, spacing_factor, batch_size, env,
                            log_file, reference_plans=Path(env["nnUNet_preprocessed"]) / scribbles.name / "nnUNetPlans.json")
        write_single_split(dense_name, env)
    classes = class_names_from_dataset_json(scribbles / "dataset.json")
    if minutes:
        log(f"{kind}: timing {CALIBRATION_EPOCHS} epochs of each trainer to fit {minutes:g} minutes")
        per_epoch = profile.iterations_per_epoch
        calibrated = calibrated_epoch_seconds(jobs, kind, configuration, work / kind, env, parallel, per_epoch)
        jobs = [replace(job, iterations=fitted_iterations(minutes, calibrated[job.trainer, job.seed], per_epoch))
                for job in jobs]

    def train_and_record(job: Job, job_env: dict) -> dict:
        record = train_predict_evaluate(job, kind, configuration, scribbles / "imagesTs", scribbles / "denseLabelsTs",
                                        classes, work / kind, job_env, profile)
        record["command"] = " ".join(sys.argv)
        return record

    def save(record: dict) -> None:
        write_record(record_path(results_dir, kind, record["trainer"], record["budget"], record["seed"]), record)
        log(f"{kind} {record['trainer']} {budget_label(record['budget'])} seed {record['seed']}: mean Dice "
            f"{record['mean']['dice']:.4f}, HD95 {record['mean']['hd95']:.2f} mm")

    def run_two_stage(job: Job) -> dict:
        """After stage 1 (the default's 1x run of the seed, trained in the first round): its pseudo-labels of the
        training cases, the pseudo-label dataset preprocessed with the scribble dataset's plans, then stage 2."""
        two_stage = TWO_STAGE.match(job.trainer)
        stage1_record = json.loads(record_path(results_dir, kind, STAGE1_TRAINER, 1, job.seed).read_text())
        run_dir = run_directory(work / kind, kind, job)
        stage_env = {**env, "nnUNet_raw": str(run_dir / "nnUNet_raw"),
                     "nnUNet_preprocessed": str(run_dir / "nnUNet_preprocessed")}
        stage1_model = (work / kind / "runs" / f"{kind}__{STAGE1_TRAINER}__1x__seed{job.seed}" / "results" /
                        scribbles.name / f"{STAGE1_TRAINER}__nnUNetPlans__{configuration}")
        pseudo = run_dir / "nnUNet_raw" / job.dataset_name
        if not pseudo.exists():
            log(f"{kind}: pseudo-labels of the training cases from the default's 1x model (seed {job.seed}, "
                f"p >= {two_stage['threshold']})")
            if attenscribble(["pseudolabel", "--source", str(scribbles), "--model", str(stage1_model), "-f", "0",
                              "--threshold", two_stage["threshold"], "--device", env["BENCHMARK_DEVICE"],
                              "--sweep", "0.5", "0.7", "0.8", "0.9", "0.95", "0.99", "--dataset", job.dataset_name,
                              "--raw-dir", str(run_dir / "nnUNet_raw"), *([] if profile.tta else ["--disable-tta"])]):
                raise RuntimeError(f"pseudo-labelling for {job.trainer} failed")
        plan_and_preprocess(job.dataset_id, job.dataset_name, base, profile_name, profile, spacing_factor, batch_size,
                            stage_env, run_dir / "preprocessing.log",
                            reference_plans=Path(env["nnUNet_preprocessed"]) / scribbles.name / "nnUNetPlans.json")
        write_single_split(job.dataset_name, stage_env)
        record = train_and_record(job, stage_env)
        pseudo_summary = json.loads((pseudo / "pseudolabel_summary.json").read_text())
        record.update(iterations=stage1_record["iterations"] + record["iterations"],
                      train_seconds=stage1_record["train_seconds"] + record["train_seconds"],
                      stage1={"iterations": stage1_record["iterations"], "mean": stage1_record["mean"]},
                      pseudolabels={k: v for k, v in pseudo_summary.items() if k not in ("source", "model")})
        return record

    def run_job(job: Job) -> None:
        record = run_two_stage(job) if TWO_STAGE.match(job.trainer) else train_and_record(job, env)
        if minutes:
            record.update(minutes=minutes, calibrated_epoch_seconds=calibrated[job.trainer, job.seed])
        if not record_path(results_dir, kind, job.trainer, job.budget, job.seed).is_file():
            save(record)

    # first round: single-stage runs and the stage-1 models the two-stage rows need (retrained where a recorded
    # run's model is gone); second round: the two-stage rows
    two_stage_jobs = [job for job in jobs if TWO_STAGE.match(job.trainer)]
    first_round = [job for job in jobs if job not in two_stage_jobs]
    for seed in sorted({job.seed for job in two_stage_jobs}):
        stage1 = Job(STAGE1_TRAINER, 1, seed, iterations, STAGE1_TRAINER, scribble_id, scribbles.name)
        first_round += [] if stage1 in first_round else [stage1]
    for round_jobs in (first_round, two_stage_jobs):
        with ThreadPoolExecutor(max_workers=parallel) as pool:  # trainings are subprocesses: threads suffice
            list(pool.map(run_job, round_jobs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--work-dir", type=Path, help="default: benchmarks/runs/<profile>")
    parser.add_argument("--results-dir", type=Path,
                        help="where each finished run is recorded and the report is built from (default: "
                             "benchmarks/results/<profile>, committed)")
    parser.add_argument("--datasets", nargs="+", choices=["acdc", "hippocampus"], default=["acdc", "hippocampus"])
    parser.add_argument("--trainers", nargs="+", default=DEFAULT_TRAINERS,
                        help=f"trainer class names; '{DENSE}' for nnU-Net on the dense labels; 'two-stage-t<p>-<trainer>' "
                             "(e.g. two-stage-t0.9-AttenScribbleTrainer) for the default at 1x, its pseudo-labels "
                             "(attenscribble pseudolabel --threshold p) and <trainer> on them for the rest of the budget")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budgets", type=int, nargs="+", default=[1],
                        help="multiples of the profile's iterations, each a run of its own (e.g. 1 3 9)")
    budget.add_argument("--minutes", type=float,
                        help="instead of --budgets: every trainer trains for this many minutes, its epochs fitted to "
                             f"its speed in a {CALIBRATION_EPOCHS}-epoch timing run under the same --parallel "
                             "(records '<trainer>__<M>min__seed<S>.json')")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA,
                        help="folder holding acdc-scribble/ and hippocampus-msd/ (default: ../shared/data)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="trainings run at once (one GPU shared; set nnUNet_n_proc_DA to cores / parallel)")
    parser.add_argument("--report-only", action="store_true", help="rebuild report.md and scaling.png, train nothing")
    args = parser.parse_args(argv)
    if any(budget < 1 for budget in args.budgets):
        parser.error("--budgets: multiples must be positive integers")
    if args.minutes is not None and not args.minutes > 0:
        parser.error("--minutes: expected a positive number of minutes")
    if args.minutes and any(TWO_STAGE.match(trainer) for trainer in args.trainers):
        parser.error("--minutes: two-stage rows have a budget in multiples only")
    for kind, folder in (("acdc", "acdc-scribble"), ("hippocampus", "hippocampus-msd")):
        if not args.report_only and kind in args.datasets and not (args.data_dir / folder).is_dir():
            print(f"benchmark: {args.data_dir / folder} is absent; it holds the real data this benchmark needs",
                  file=sys.stderr)
            return 2
    profile = PROFILES[args.profile]
    work = (args.work_dir or REPOSITORY / "benchmarks" / "runs" / args.profile).resolve()
    results_dir = (args.results_dir or REPOSITORY / "benchmarks" / "results" / args.profile).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "nnUNet_raw": str(work / "nnUNet_raw"), "nnUNet_preprocessed": str(work / "nnUNet_preprocessed"),
           "nnUNet_results": str(work / "nnUNet_results"), "nnUNet_compile": "false", "BENCHMARK_DEVICE": args.device}
    env.update(experiment_trainer_environment(env))
    env.setdefault("nnUNet_n_proc_DA", "2" if args.device == "cpu" else "12")
    env.setdefault("nnUNet_def_n_proc", "2")
    env.setdefault("BENCHMARK_PROCESSES", str(os.cpu_count() or 2))
    for kind in [] if args.report_only else args.datasets:
        run_dataset(kind, work, args.data_dir.resolve(), args.profile, profile, env, args.trainers, args.budgets,
                    args.seeds, args.parallel, results_dir, args.minutes)
    records = load_records(results_dir)
    if not records:
        print(f"benchmark: no run recorded in {results_dir}", file=sys.stderr)
        return 2
    report = format_report(records)
    (results_dir / "report.md").write_text(report.lstrip() + "\n")
    plot_report(records, results_dir / "scaling.png")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
