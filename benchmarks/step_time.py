"""Step time, peak memory and inference time: AttenScribbleTrainer vs nnUNetTrainer on the same plans.

    python benchmarks/step_time.py --preset acdc-2d --batch-size 4                    # this CPU
    python benchmarks/step_time.py --preset acdc-2d --device cuda                      # batch 56, 256x224
    python benchmarks/step_time.py --plans nnUNetPlans.json --configuration 3d_fullres --device cuda

Each trainer's real `train_step` (forward, loss, backward, optimiser step) runs on the same synthetic batch
(random image, ~3 % scribbled voxels, deep-supervision targets), interleaved A B A B after warm-up; the median
step time, their ratio, peak memory (CUDA: max_memory_allocated; CPU: peak RSS of a child process per
trainer) and the eval-mode forward time (what inference costs per patch) are reported, plus each loss term
timed alone. Output: a table and --json.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for variable in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
    os.environ.setdefault(variable, tempfile.mkdtemp(prefix="step_time_"))
os.environ.setdefault("nnUNet_compile", "false")
REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from experiment_trainers import experiment_trainer_environment  # noqa: E402

os.environ.update(experiment_trainer_environment(os.environ))  # --trainers may name an experiment-only variant

PRESETS = {
    # nnU-Net's 2d plans for ACDC (7 stages, batch 56 on a GPU) and 3d_fullres plans for ACDC / hippocampus
    "acdc-2d": dict(patch=[256, 224], spacing=[1.54, 1.54], batch=56, features=[32, 64, 128, 256, 512, 512],
                    strides=[[1, 1]] + [[2, 2]] * 5),
    "acdc-3d": dict(patch=[10, 256, 224], spacing=[10.0, 1.54, 1.54], batch=2,
                    features=[32, 64, 128, 256, 320, 320], strides=[[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2],
                                                                     [1, 2, 2], [1, 2, 2]]),
    "hippocampus-3d": dict(patch=[40, 56, 40], spacing=[1.0, 1.0, 1.0], batch=9, features=[32, 64, 128, 256],
                           strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]),
    "tiny-2d": dict(patch=[32, 32], spacing=[1.0, 1.0], batch=2, features=[8, 16, 32, 64],
                    strides=[[1, 1], [2, 2], [2, 2], [2, 2]]),
}
NUM_CLASSES = 4


def preset_plans(name: str) -> dict:
    """A plans dict with one configuration built like nnU-Net's planner would."""
    p = PRESETS[name]
    dims = len(p["patch"])
    stages = len(p["features"])
    configuration = {
        "data_identifier": "x", "preprocessor_name": "DefaultPreprocessor", "batch_size": p["batch"],
        "patch_size": p["patch"], "median_image_size_in_voxels": p["patch"], "spacing": p["spacing"],
        "normalization_schemes": ["ZScoreNormalization"], "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {}, "resampling_fn_seg_kwargs": {},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape", "resampling_fn_probabilities_kwargs": {},
        "batch_dice": dims == 2,
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": {"n_stages": stages, "features_per_stage": p["features"],
                            "conv_op": f"torch.nn.modules.conv.Conv{dims}d",
                            "kernel_sizes": [[1 if s == 1 and dims == 3 and i < 2 and a == 0 else 3
                                              for a, s in enumerate(st)] for i, st in enumerate(p["strides"])],
                            "strides": p["strides"], "n_conv_per_stage": [2] * stages,
                            "n_conv_per_stage_decoder": [2] * (stages - 1), "conv_bias": True,
                            "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{dims}d",
                            "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                            "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
                            "nonlin_kwargs": {"inplace": True}},
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}}
    return {"dataset_name": "Dataset999_StepTime", "plans_name": "nnUNetPlans", "configurations": {name: configuration},
            "original_median_spacing_after_transp": p["spacing"], "image_reader_writer": "SimpleITKIO",
            "transpose_forward": list(range(3)), "transpose_backward": list(range(3)),
            "original_median_shape_after_transp": p["patch"], "experiment_planner_used": "x",
            "label_manager": "LabelManager", "foreground_intensity_properties_per_channel": {}}


def dataset_json() -> dict:
    labels = {"background": 0, **{f"class{i}": i for i in range(1, NUM_CLASSES)}, "ignore": NUM_CLASSES}
    return {"channel_names": {"0": "MRI"}, "labels": labels, "numTraining": 1, "file_ending": ".nii.gz"}


def make_trainer(name: str, plans: dict, configuration: str, device: torch.device, batch_size: int):
    """A real trainer with network, optimiser and loss built as nnU-Net's initialize would (no data folders)."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        trainer_class = recursive_find_trainer_class_by_name(name)
    plans = json.loads(json.dumps(plans))
    plans["configurations"][configuration]["batch_size"] = batch_size
    plans["continue_training"] = False
    trainer = trainer_class(plans, configuration, 0, dataset_json(), device)
    trainer.print_to_log_file = lambda *a, **k: None
    trainer.num_input_channels = 1
    torch.manual_seed(0)
    trainer.network = trainer.build_network_architecture(trainer.plans_manager, trainer.configuration_manager, 1,
                                                         trainer.label_manager.num_segmentation_heads,
                                                         True).to(device)
    trainer.optimizer, trainer.lr_scheduler = trainer.configure_optimizers()
    trainer.loss = trainer._build_loss()
    if hasattr(trainer, "build_regularizers"):
        trainer.regularizers = trainer.build_regularizers()
    trainer.network.train()
    return trainer


def make_batch(trainer, batch_size: int, device, seed: int = 0) -> dict:
    """Random image and sparse scribbles (~3 %), nearest-downsampled to every deep-supervision scale."""
    generator = torch.Generator().manual_seed(seed)
    patch = list(trainer.configuration_manager.patch_size)
    data = torch.randn(batch_size, 1, *patch, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (batch_size, 1, *patch), generator=generator)
    scribbled = torch.rand(batch_size, 1, *patch, generator=generator) < 0.03
    target = torch.where(scribbled, labels, torch.full_like(labels, NUM_CLASSES)).to(torch.int16)
    targets = []
    for scale in trainer._get_deep_supervision_scales():
        size = [max(1, int(round(p * s))) for p, s in zip(patch, scale)]
        targets.append(torch.nn.functional.interpolate(target.float(), size=size, mode="nearest").to(torch.int16))
    return {"data": data.to(device), "target": [t.to(device) for t in targets]}


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(function, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


def measure_loss_terms(trainer, batch, device, repeats: int) -> dict:
    """Forward+backward time (and CUDA peak memory) of each AttenScribble term alone, on the trainer's shapes."""
    if not hasattr(trainer, "regularizers"):
        return {}
    with torch.no_grad():
        output = trainer.network(batch["data"])
    segmentation = output[0] if isinstance(output, tuple) else output
    attention = output[1:] if isinstance(output, tuple) else None
    results = {}
    for term, other in (("crf", "similarity"), ("similarity", "crf")):
        if getattr(trainer.regularizers, term).weight == 0:
            continue
        alone = copy.copy(trainer.regularizers)  # the other term's weight 0: it is not computed at all
        setattr(alone, other, dataclasses.replace(getattr(alone, other), weight=0.0))

        def step():
            logits = [s.detach().float().requires_grad_() for s in segmentation]
            extra = None if attention is None else tuple(a.detach().float().requires_grad_() for a in attention)
            terms = alone(batch["data"], logits, batch["target"], extra)
            if term in terms:
                terms[term].backward()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = [timed(step, device) for _ in range(repeats)]
        results[term] = {"median_s": statistics.median(times)}
        if device.type == "cuda":
            results[term]["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return results


def peak_rss_child(args, trainer_name: str) -> float:
    """Peak RSS (GB) of a fresh process that builds one trainer and runs a few steps (CPU memory figure)."""
    command = [sys.executable, __file__, *args.forwarded, "--rss-child", trainer_name]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(output.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="acdc-2d")
    parser.add_argument("--plans", type=Path, help="an nnUNetPlans.json instead of a preset")
    parser.add_argument("--configuration", default=None)
    parser.add_argument("--batch-size", type=int, help="default: the plans' batch size")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--trainers", nargs=2, default=["nnUNetTrainer", "AttenScribbleTrainer"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6, help="measured steps per trainer")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile-ops", type=int, default=0, metavar="N",
                        help="also print each trainer's N most expensive operators over 3 steps (torch.profiler)")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.forwarded = [a for a in (argv if argv is not None else sys.argv[1:])
                      if a not in ("--rss-child",)][:]
    if "--json" in args.forwarded:
        index = args.forwarded.index("--json")
        del args.forwarded[index:index + 2]

    device = torch.device(args.device)
    if args.plans:
        plans = json.loads(args.plans.read_text())
        configuration = args.configuration or "2d"
    else:
        plans, configuration = preset_plans(args.preset), args.preset
    batch_size = args.batch_size or plans["configurations"][configuration]["batch_size"]
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count())

    if args.rss_child:
        import resource
        trainer = make_trainer(args.rss_child, plans, configuration, device, batch_size)
        batch = make_batch(trainer, batch_size, device)
        for _ in range(2):
            trainer.train_step(batch)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
        return 0

    peak = {}
    if device.type == "cpu":  # before this process grows: a child's ru_maxrss starts at its parent's RSS
        peak = {name: peak_rss_child(args, name) for name in args.trainers}
    trainers = {name: make_trainer(name, plans, configuration, device, batch_size) for name in args.trainers}
    batch = make_batch(trainers[args.trainers[0]], batch_size, device)
    autocast = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else None
    for trainer in trainers.values():
        for _ in range(args.warmup):
            trainer.train_step(batch)
    times = {name: [] for name in trainers}
    for _ in range(args.steps):
        for name, trainer in trainers.items():  # interleaved A B A B
            times[name].append(timed(lambda: trainer.train_step(batch), device))
    for name, trainer in trainers.items():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            trainer.train_step(batch)
            peak[name] = torch.cuda.max_memory_allocated() / 1e9
    inference = {}
    for name, trainer in trainers.items():
        network = trainer._unwrapped_network() if hasattr(trainer, "_unwrapped_network") else trainer.network
        network.eval()
        trainer.set_deep_supervision_enabled(False)
        with torch.no_grad(), (autocast or torch.autocast("cpu", enabled=False)):
            network(batch["data"][:1])
            inference[name] = statistics.median(timed(lambda: network(batch["data"][:1]), device)
                                                for _ in range(max(3, args.steps)))
        trainer.set_deep_supervision_enabled(True)
        network.train()
    base, candidate = args.trainers
    terms = measure_loss_terms(trainers[candidate], batch, device, max(3, args.steps // 2))
    report = {
        "configuration": configuration, "patch_size": list(trainers[base].configuration_manager.patch_size),
        "batch_size": batch_size, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "cpu_threads": torch.get_num_threads(), "steps": args.steps,
        "attention_stage": getattr(trainers[candidate]._unwrapped_network(), "attention_stage", None),
        "median_step_s": {n: statistics.median(t) for n, t in times.items()},
        "peak_memory_gb": peak, "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda"
        else "peak RSS of a child process", "inference_s_per_patch": inference, "loss_terms": terms,
    }
    report["ratios"] = {"step_time": report["median_step_s"][candidate] / report["median_step_s"][base],
                        "peak_memory": peak[candidate] / peak[base],
                        "inference": inference[candidate] / inference[base]}
    print(format_table(report, base, candidate))
    if args.profile_ops:
        for name, trainer in trainers.items():
            print(f"\n{name}: the {args.profile_ops} most expensive operators over 3 steps")
            print(operator_table(trainer, batch, device, args.profile_ops))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def operator_table(trainer, batch, device, rows: int) -> str:
    """torch.profiler's operator table of 3 training steps, sorted by self time on the device doing the work."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        for _ in range(3):
            trainer.train_step(batch)
        synchronize(device)
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return profiler.key_averages().table(sort_by=sort_by, row_limit=rows)


def format_table(report: dict, base: str, candidate: str) -> str:
    r = report
    lines = [f"{r['configuration']} patch {r['patch_size']} batch {r['batch_size']} on {r['device']} "
             f"(attention stage {r['attention_stage']})",
             f"| | {base} | {candidate} | ratio |", "|---|---|---|---|",
             f"| median step (s) | {r['median_step_s'][base]:.4f} | {r['median_step_s'][candidate]:.4f} | "
             f"{r['ratios']['step_time']:.3f} |",
             f"| peak memory (GB, {r['peak_memory_kind']}) | {r['peak_memory_gb'][base]:.3f} | "
             f"{r['peak_memory_gb'][candidate]:.3f} | {r['ratios']['peak_memory']:.3f} |",
             f"| inference forward per patch (s) | {r['inference_s_per_patch'][base]:.4f} | "
             f"{r['inference_s_per_patch'][candidate]:.4f} | {r['ratios']['inference']:.3f} |"]
    for term, values in r["loss_terms"].items():
        memory = f", peak {values['peak_memory_gb']:.3f} GB" if "peak_memory_gb" in values else ""
        lines.append(f"{term} loss alone (forward+backward): {values['median_s']:.4f} s{memory}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
