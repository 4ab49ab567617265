"""Scribble benchmark on real data: every trainer on identical plans, data and iteration budget.

    python benchmarks/scribble_benchmark.py --profile cpu            # 2 cores: the default trainers in ~90 min
    python benchmarks/scribble_benchmark.py --profile gpu --datasets acdc --parallel 5   # H100: ~7 min in all
    (on a lent GPU machine with no package registry: benchmarks/device/prepare.sh here, then gpu_profile.sh there)
    python benchmarks/scribble_benchmark.py --profile smoke          # tiny, for the tests

ACDC 2d: expert scribbles of patients 021-100 (../shared/data/acdc-scribble), patient-wise split (train on
021-080, test on 081-100, both frames of a patient on one side). Hippocampus 3d_fullres: scribbles simulated
by `attenscribble simulate` (seed 0) on ../shared/data/hippocampus-msd, case-wise split (IDs >= 250 test).
Trainers (default): nnU-Net's ignore-label baseline, the default's ablation (partial CE + masked Dice, + masked
CRF, + attention block = AttenScribbleTrainer, + similarity loss) and nnU-Net on the dense labels with 3x the
iterations (`dense_long`: the upper bound; `dense` trains with the profile's own budget). A name ending in
`_long` trains with 3x the profile's iterations: the dense model needs them to converge on this budget, and a
scribble trainer at the same 3x (`AttenScribbleTrainer_long`) is the equal-budget comparison with it.
Evaluation: `attenscribble evaluate` against dense labels of the test cases.
Resumable: finished steps (datasets, preprocessing, trainings, predictions, evaluations) are skipped.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"
sys.path.insert(0, str(REPOSITORY))

from nnunet_attenscribble.scribble_tools.cli import main as attenscribble  # noqa: E402
from nnunet_attenscribble.scribble_tools.evaluate import class_names_from_dataset_json, evaluate_folders  # noqa: E402

SCRIBBLE_TRAINERS = ["nnUNetTrainer_AttenScribbleBudget", "AttenScribbleTrainer_PartialCEDice",
                     "AttenScribbleTrainer_PartialCEDice_CRF", "AttenScribbleTrainer",
                     "AttenScribbleTrainer_PlusSimilarity"]
DEFAULT_TRAINERS = SCRIBBLE_TRAINERS + ["dense_long"]  # the baseline, the default's ablation, the upper bound
DENSE_TRAINER = "nnUNetTrainer_AttenScribbleBudget"
DENSE = "dense"                 # nnU-Net (DENSE_TRAINER) on the dense labels: the upper bound
LONG_SUFFIX, LONG_FACTOR = "_long", 3  # "<trainer or dense>_long": LONG_FACTOR x the profile's iterations
LABELS = {"nnUNetTrainer_AttenScribbleBudget": "nnU-Net ignore-label baseline (Dice+CE on scribbles)",
          "AttenScribbleTrainer_PartialCE": "partial CE only (no masked Dice)",
          "AttenScribbleTrainer_PartialCE_CRF": "partial CE + masked CRF",
          "AttenScribbleTrainer_NoPartialDice": "+ attention block (v0.3's default)",
          "AttenScribbleTrainer_PartialCEDice": "partial CE + masked Dice",
          "AttenScribbleTrainer_PartialCEDice_CRF": "+ masked CRF",
          "AttenScribbleTrainer": "+ attention block (AttenScribbleTrainer, default)",
          "AttenScribbleTrainer_NoSimilarity": "AttenScribbleTrainer (former name)",
          "AttenScribbleTrainer_WithSimilarity": "attention + CRF + similarity loss (the paper's full objective)",
          "AttenScribbleTrainer_PlusSimilarity": "+ attentive similarity loss (default + similarity)",
          "dense": "nnU-Net on dense labels",
          "AttenScribbleTrainer_PartialDice": "AttenScribble + nnU-Net's partial Dice",
          "AttenScribbleTrainer_HalfSimilarityWindow": "AttenScribble, similarity window halved",
          "AttenScribbleTrainer_PaddingAsBackground": "AttenScribble, padding supervised as background",
          "AttenScribbleTrainer_NnUNetPartialLoss": "AttenScribble on nnU-Net's Dice + CE (padding as background)",
          "AttenScribbleTrainer_SlowSimilarityAffine": "AttenScribble, similarity alpha/beta at the original's step",
          "AttenScribbleTrainer_BalancedPaddingBackground": "AttenScribble, class-balanced CE, padding as background",
          "AttenScribbleTrainer_NoCRFRampUp": "v0.3's default without the CRF ramp-up (v0.2's default)",
          "AttenScribbleTrainer_CRFWeight03": "default, CRF weight 0.3",
          "AttenScribbleTrainer_CRFSigmaIntensity005": "default, CRF intensity sigma 0.05"}


def split_budget(name: str) -> tuple[str, int]:
    """(trainer or 'dense', multiple of the profile's iterations) of a --trainers name."""
    if name.endswith(LONG_SUFFIX):
        return name[: -len(LONG_SUFFIX)], LONG_FACTOR
    return name, 1


def label(tag: str) -> str:
    """Plot / table label of a run tag; 'Trainer@v0.2' marks cached runs of a class as an older version defined
    it (kept in the report after the class changed)."""
    name, _, version = tag.partition("@")
    trainer, factor = split_budget(name)
    return LABELS.get(trainer, trainer) + (f", {factor}x iterations" if factor > 1 else "") + \
        (f" [{version} run]" if version else "")


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
                     hippocampus_max_cases=8, tta=False),
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


def train_predict_evaluate(trainer: str, dataset_id: int, dataset_name: str, configuration: str,
                           iterations: int, test_images: Path, dense_labels: Path, classes: dict, work: Path,
                           env: dict, profile: Profile, seed: int, tag: str) -> dict:
    run_dir = work / "runs" / f"{tag}__seed{seed}"
    summary_file = run_dir / "evaluation" / "summary.json"
    if summary_file.is_file():
        return json.loads(summary_file.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    epochs = max(1, iterations // 50)
    per_epoch = max(1, iterations // epochs)
    train_env = {**env, "nnUNet_results": str(run_dir / "results"), "ATTENSCRIBBLE_EPOCHS": str(epochs),
                 "ATTENSCRIBBLE_ITERATIONS_PER_EPOCH": str(per_epoch), "ATTENSCRIBBLE_VAL_ITERATIONS": "2",
                 "ATTENSCRIBBLE_SEED": str(seed)}
    device = env["BENCHMARK_DEVICE"]
    final = run_dir / "results" / dataset_name / f"{trainer}__nnUNetPlans__{configuration}" / "fold_0" / \
        "checkpoint_final.pth"
    started = time.time()
    if not final.is_file():
        log(f"training {tag} ({epochs} x {per_epoch} iterations, seed {seed})")
        nnunet(["nnUNetv2_train", dataset_id, configuration, 0, "-tr", trainer, "-device", device],
               train_env, run_dir / "nnunet.log")
    train_seconds = time.time() - started
    predictions = run_dir / "predictions"
    if not (predictions / "predict_from_raw_data_args.json").is_file():
        log(f"predicting {tag}")
        nnunet(["nnUNetv2_predict", "-i", test_images, "-o", predictions, "-d", dataset_id, "-c", configuration,
                "-f", 0, "-tr", trainer, "-device", device, *([] if profile.tta else ["--disable_tta"])],
               train_env, run_dir / "nnunet.log")
    summary = evaluate_folders(predictions, dense_labels, classes, run_dir / "evaluation")
    summary["train_seconds"] = train_seconds
    summary["iterations"] = epochs * per_epoch
    summary_file.write_text(json.dumps(summary, indent=2))
    return summary


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


def training_jobs(trainers, seeds, iterations: int, scribble_dataset: tuple, dense_dataset: tuple) -> list[tuple]:
    """(trainer class, dataset id, dataset name, tag, iterations, seed) for every --trainers name and seed; 'dense'
    is nnU-Net on the dense-label dataset, '_long' multiplies the iterations."""
    jobs = []
    for tag in trainers:
        trainer, factor = split_budget(tag)
        trained = (DENSE_TRAINER, *dense_dataset) if trainer == DENSE else (trainer, *scribble_dataset)
        jobs += [(*trained, tag, iterations * factor, seed) for seed in seeds]
    return jobs


def run_dataset(kind: str, work: Path, data: Path, profile_name: str, profile: Profile, env: dict, trainers, seeds,
                parallel: int) -> dict:
    """Every (trainer, seed) of one dataset; the dense-label dataset is made only when a dense run is asked for."""
    if kind == "acdc":
        scribbles = prepare_acdc(work, data, profile)
        scribble_id, dense_id, dense_name, base = 801, 811, "Dataset811_ACDCDense", "2d"
        iterations = profile.acdc_iterations
        spacing_factor, batch_size = profile.acdc_spacing_factor, profile.acdc_batch_size
    else:
        scribbles = prepare_hippocampus(work, data, profile)
        scribble_id, dense_id, dense_name, base = 802, 812, "Dataset812_HippocampusSimDense", "3d_fullres"
        iterations = profile.hippocampus_iterations
        spacing_factor, batch_size = profile.hippocampus_spacing_factor, profile.hippocampus_batch_size
    log_file = work / "preprocessing.log"
    log(f"{kind}: planning and preprocessing")
    configuration = plan_and_preprocess(scribble_id, scribbles.name, base, profile_name, profile, spacing_factor,
                                        batch_size, env, log_file)
    write_single_split(scribbles.name, env)
    if any(split_budget(t)[0] == DENSE for t in trainers):
        dense_copy(scribbles, scribbles.parent / dense_name)
        plan_and_preprocess(dense_id, dense_name, base, profile_name, profile, spacing_factor, batch_size, env,
                            log_file, reference_plans=Path(env["nnUNet_preprocessed"]) / scribbles.name / "nnUNetPlans.json")
        write_single_split(dense_name, env)
    classes = class_names_from_dataset_json(scribbles / "dataset.json")
    jobs = training_jobs(trainers, seeds, iterations, (scribble_id, scribbles.name), (dense_id, dense_name))

    def run_job(job) -> dict:
        trainer, dataset_id, dataset_name, tag, budget, seed = job
        summary = train_predict_evaluate(trainer, dataset_id, dataset_name, configuration, budget,
                                         scribbles / "imagesTs", scribbles / "denseLabelsTs", classes,
                                         work / kind, env, profile, seed, f"{kind}__{tag}")
        log(f"{kind} {tag} seed {seed}: mean Dice {summary['mean']['dice']:.4f}, HD95 {summary['mean']['hd95']:.2f} mm")
        return summary

    with ThreadPoolExecutor(max_workers=parallel) as pool:  # trainings are subprocesses: threads suffice
        summaries = list(pool.map(run_job, jobs))
    results = {}
    for job, summary in zip(jobs, summaries):
        results.setdefault(job[3], []).append(summary)
    return {"configuration": configuration, "iterations": iterations, "results": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--work-dir", type=Path, help="default: benchmarks/runs/<profile>")
    parser.add_argument("--datasets", nargs="+", choices=["acdc", "hippocampus"], default=["acdc", "hippocampus"])
    parser.add_argument("--trainers", nargs="+", default=DEFAULT_TRAINERS,
                        help="trainer class names, or 'dense' for nnU-Net on the dense labels; a name ending in "
                             f"'{LONG_SUFFIX}' trains with {LONG_FACTOR}x the profile's iterations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA,
                        help="folder holding acdc-scribble/ and hippocampus-msd/ (default: ../shared/data)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="trainings run at once (one GPU shared; set nnUNet_n_proc_DA to cores / parallel)")
    args = parser.parse_args(argv)
    for kind, folder in (("acdc", "acdc-scribble"), ("hippocampus", "hippocampus-msd")):
        if kind in args.datasets and not (args.data_dir / folder).is_dir():
            print(f"benchmark: {args.data_dir / folder} is absent; it holds the real data this benchmark needs",
                  file=sys.stderr)
            return 2
    profile = PROFILES[args.profile]
    work = (args.work_dir or REPOSITORY / "benchmarks" / "runs" / args.profile).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "nnUNet_raw": str(work / "nnUNet_raw"), "nnUNet_preprocessed": str(work / "nnUNet_preprocessed"),
           "nnUNet_results": str(work / "nnUNet_results"), "nnUNet_compile": "false", "BENCHMARK_DEVICE": args.device}
    env.setdefault("nnUNet_n_proc_DA", "2" if args.device == "cpu" else "12")
    env.setdefault("nnUNet_def_n_proc", "2")
    env.setdefault("BENCHMARK_PROCESSES", str(os.cpu_count() or 2))
    report_file = work / "report.json"
    report = json.loads(report_file.read_text()) if report_file.is_file() else {"datasets": {}}
    report.update({"profile": args.profile, "profile_settings": profile.__dict__, "device": args.device,
                   "machine": f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} "
                              f"cores", "date": time.strftime("%Y-%m-%d")})
    report.setdefault("commands", []).append(" ".join(sys.argv))
    for kind in args.datasets:  # merged with earlier invocations on the same work folder
        new = run_dataset(kind, work, args.data_dir.resolve(), args.profile, profile, env, args.trainers, args.seeds,
                          args.parallel)
        merged = report["datasets"].setdefault(kind, {"results": {}})
        merged.update({k: v for k, v in new.items() if k != "results"})
        merged["results"].update(new["results"])
    report_file.write_text(json.dumps(report, indent=2))
    plot_report(report, work / "dice.png")
    print(format_report(report))
    return 0


def reported_datasets(report: dict) -> dict:
    """The report's datasets that hold at least one result (an invocation may have added an empty one)."""
    return {kind: data for kind, data in report["datasets"].items() if data["results"]}


def plot_report(report: dict, path: Path) -> None:
    """Mean Dice per trainer (bars, one panel per dataset; whiskers: std over seeds where several)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    datasets = reported_datasets(report)
    bars = [len(data["results"]) for data in datasets.values()]  # panels stacked, each as tall as its bars
    figure, axes = plt.subplots(len(datasets), 1, figsize=(9, 0.26 * sum(bars) + 1.3 * len(bars)), squeeze=False,
                                gridspec_kw={"height_ratios": bars})
    for axis, (kind, data) in zip(axes[:, 0], datasets.items()):
        tags = list(data["results"])
        means = [np.mean([r["mean"]["dice"] for r in data["results"][t]]) for t in tags]
        stds = [np.std([r["mean"]["dice"] for r in data["results"][t]]) for t in tags]
        axis.barh(range(len(tags)), means, xerr=stds, color="tab:blue")
        axis.set_yticks(range(len(tags)), [label(t) for t in tags], fontsize=8)
        axis.set_xlim(0, 1)
        axis.set_xlabel("mean Dice on the test cases (dense labels)")
        axis.set_title(f"{kind} ({data['configuration']}, {data['iterations']} iterations)")
        for y, (value, std) in enumerate(zip(means, stds)):
            axis.text(value + std + 0.01, y, f"{value:.3f}", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def format_report(report: dict) -> str:
    import numpy as np
    lines = []
    for kind, data in reported_datasets(report).items():
        classes = list(next(iter(data["results"].values()))[0]["per_class"])
        lines.append(f"\n{kind} ({data['configuration']}, {data['iterations']} iterations)")
        header = "| trainer | " + " | ".join(f"Dice {c}" for c in classes) + " | mean Dice | mean HD95 (mm) |"
        lines += [header, "|" + "---|" * (len(classes) + 3)]
        for tag, runs in data["results"].items():
            def stat(values, digits):
                values = np.array(values, dtype=float)
                return f"{values.mean():.{digits}f}" + (f" ± {values.std():.{digits}f}" if len(values) > 1 else "")
            cells = [stat([r["per_class"][c]["dice"] for r in runs], 3) for c in classes]
            cells += [stat([r["mean"]["dice"] for r in runs], 3), stat([r["mean"]["hd95"] for r in runs], 1)]
            lines.append(f"| {label(tag)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
