"""The `attenscribble` command: convert, simulate, pseudolabel, evaluate, postprocess, overlay, demo, trainer-path."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from .errors import ScribbleToolError

# the class probability from which `pseudolabel` trusts the model (docs/RESULTS.md, two-stage training)
DEFAULT_PSEUDOLABEL_THRESHOLD = 0.9


def _raw_dir(args) -> Path:
    raw = args.raw_dir or os.environ.get("nnUNet_raw")
    if not raw:
        raise ScribbleToolError(None, "no output folder: give --raw-dir or set nnUNet_raw")
    return Path(raw)


def _dataset_spec(args):
    """The output dataset's name, classes and channels, validated before any input is read."""
    from .raw_dataset import DatasetSpec
    return DatasetSpec(args.dataset, list(args.class_names), args.channel_names or ["MRI"])


def _inputs(args, *names):
    """The input folders given on the command line (outputs may not be or touch them)."""
    return [getattr(args, name) for name in names if getattr(args, name, None)]


def _add_output_dataset_options(parser):
    parser.add_argument("--dataset", required=True, help="output dataset name, e.g. Dataset801_ACDCScribble")
    parser.add_argument("--raw-dir", help="nnUNet_raw folder (default: $nnUNet_raw)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")


def _add_dataset_options(parser, default_classes):
    _add_output_dataset_options(parser)
    parser.add_argument("--class-names", nargs="+", default=default_classes, required=default_classes is None,
                        help="class names in label order, 'background' first (label 0), each once; 'ignore' is "
                             "added for unannotated voxels" + (f" (default: {' '.join(default_classes)})"
                                                               if default_classes else ""))
    parser.add_argument("--channel-names", nargs="+",
                        help="one name per image channel (<case>_0000, <case>_0001, ...), e.g. T1 T2; nnU-Net "
                             "normalises 'CT' by its intensity statistics, any other name per image (default: MRI, "
                             "one channel)")
    parser.add_argument("--test-ids", help="patient/subject numbers for imagesTs, e.g. 81-100 (the first number "
                                           "in a case name; both frames of a patient go together)")


def _print_fractions(cases, num_classes):
    from .simulate import annotated_fraction
    import SimpleITK as sitk
    fractions = {}
    for case in cases:
        if case.scribble is None or case.dense is None:
            continue
        for value, fraction in annotated_fraction(sitk.GetArrayViewFromImage(case.scribble),
                                                  sitk.GetArrayViewFromImage(case.dense), num_classes).items():
            fractions.setdefault(value, []).append(fraction)
    for value, values in sorted(fractions.items()):
        print(f"  class {value}: {100 * np.mean(values):.2f} % of its voxels scribbled (mean over training cases)")


def command_convert(args):
    from .convert import acdc_cases, generic_cases, wsl4mis_cases
    from .raw_dataset import write_raw_dataset
    from .pairing import parse_id_ranges
    from .value_mapping import check_class_map_covers, parse_class_map

    test_ids = parse_id_ranges(args.test_ids)
    spec = _dataset_spec(args)
    names = spec.class_names
    if args.source == "wsl4mis":
        cases = wsl4mis_cases(args.h5_dir, args.reference_dir, args.spacing, args.unannotated_value, len(names),
                              test_ids)
        inputs = _inputs(args, "h5_dir", "reference_dir")
    elif args.source == "acdc":
        cases = acdc_cases(args.acdc_dir, args.scribble_dir, args.unannotated_value, len(names), test_ids)
        inputs = _inputs(args, "acdc_dir", "scribble_dir")
    else:
        class_map = parse_class_map(args.class_map)
        check_class_map_covers(class_map, names)
        cases = generic_cases(args.images, args.scribbles, args.dense, args.unannotated_value, class_map,
                              len(names), test_ids)
        inputs = _inputs(args, "images", "scribbles", "dense")
    folder = write_raw_dataset(cases, spec, _raw_dir(args), args.overwrite, inputs)
    _print_fractions(cases, len(names))
    print(f"wrote {folder} ({sum(not c.test for c in cases)} training, {sum(c.test for c in cases)} test cases)")


def command_simulate(args):
    from .convert import simulated_cases
    from .raw_dataset import write_raw_dataset
    from .pairing import parse_id_ranges
    from .simulate import SimulationSettings

    spec = _dataset_spec(args)
    names = spec.class_names
    settings = SimulationSettings(mode=args.mode, axis=args.axis, border=args.border,
                                  background_band=args.background_band,
                                  empty_frame_strokes=not args.no_empty_slice_strokes)
    cases = simulated_cases(args.images, args.labels, len(names), settings, args.seed, parse_id_ranges(args.test_ids))
    folder = write_raw_dataset(cases, spec, _raw_dir(args), args.overwrite, _inputs(args, "images", "labels"))
    _print_fractions(cases, len(names))
    print(f"wrote {folder} ({sum(not c.test for c in cases)} training, {sum(c.test for c in cases)} test cases)")


def _source_dataset(args) -> Path:
    """--source as a folder, or a dataset name under nnUNet_raw."""
    given = Path(args.source)
    if given.is_dir():
        return given
    raw = args.raw_dir or os.environ.get("nnUNet_raw")
    if raw and (Path(raw) / args.source).is_dir():
        return Path(raw) / args.source
    raise ScribbleToolError(args.source, "source dataset not found (a folder, or a dataset name under nnUNet_raw / "
                                         "--raw-dir)")


def command_pseudolabel(args):
    from nnunet_attenscribble import __version__
    from .model_probabilities import ModelProbabilities, check_same_labels, checked_folds, model_folder_from_names
    from .pseudolabel import PseudoLabelSettings, format_summary, write_pseudolabel_dataset

    source = _source_dataset(args)
    model = Path(args.model) if args.model else model_folder_from_names(
        os.environ.get("nnUNet_results"), source.name, args.trainer, args.configuration, args.plans)
    folds = checked_folds(model, args.folds, args.checkpoint)
    check_same_labels(model / "dataset.json", source / "dataset.json")
    settings = PseudoLabelSettings(args.threshold, args.largest_component, args.sweep or [])
    provenance = {"model": str(model.resolve()), "folds": folds, "checkpoint": args.checkpoint,
                  "test_time_mirroring": not args.disable_tta, "version": __version__}
    folder, summary = write_pseudolabel_dataset(
        source, args.dataset, _raw_dir(args),
        lambda: ModelProbabilities(model, folds, args.checkpoint, args.device, mirroring=not args.disable_tta),
        settings, args.overwrite, provenance, inputs=[model])
    print(format_summary(summary))
    print(f"wrote {folder} ({summary['cases']} training cases; summary in {folder / 'pseudolabel_summary.json'})")


def command_evaluate(args):
    from .evaluate import evaluate_folders, format_table
    summary = evaluate_folders(args.predictions, args.references, output_dir=args.output,
                               dataset_json=args.dataset_json)
    print(f"classes from {summary['classes_from']}")
    print(format_table(summary))
    if args.output:
        print(f"wrote {Path(args.output) / 'metrics_per_case.csv'} and {Path(args.output) / 'summary.json'}")


def command_postprocess(args):
    from .postprocess import postprocess_folder
    written = postprocess_folder(args.predictions, args.output, args.per_class, args.overwrite)
    print(f"wrote {len(written)} post-processed label maps to {args.output}")


def command_overlay(args):
    from .evaluate import classes_dataset_json, dataset_json_labels
    from .overlay import overlay_folders
    source = classes_dataset_json(args.predictions, args.dataset_json)
    class_names, ignore = dataset_json_labels(source) if source else (None, None)
    written = overlay_folders(args.images, args.predictions, args.output, args.references, args.scribbles,
                              args.ignore_value if args.ignore_value is not None else ignore, args.cases, args.slice,
                              class_names)
    for path in written:
        print(path)


def command_demo(args):
    from .demo import run_demo
    run_demo(Path(args.output), epochs=args.epochs, iterations=args.iterations, overwrite=args.overwrite)


def command_trainer_path(args):
    from nnunet_attenscribble.extension_path import trainer_folder
    print(trainer_folder())


def build_parser() -> argparse.ArgumentParser:
    from nnunet_attenscribble import __version__
    parser = argparse.ArgumentParser(prog="attenscribble", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="scribble data -> nnU-Net raw dataset with an ignore label")
    sources = convert.add_subparsers(dest="source", required=True)
    acdc_names = ["background", "RV", "MYO", "LV"]
    wsl = sources.add_parser("wsl4mis", help="WSL4MIS h5 volumes (keys image, label, scribble)")
    wsl.add_argument("--h5-dir", required=True)
    geometry = wsl.add_mutually_exclusive_group(required=True)
    geometry.add_argument("--reference-dir", help="NIfTIs of the same cases whose header gives the geometry "
                                                  "(e.g. the original scribble release)")
    geometry.add_argument("--spacing", type=float, nargs="+", help="voxel spacing in h5 axis order (Z Y X), mm")
    wsl.add_argument("--unannotated-value", type=int, default=4)
    _add_dataset_options(wsl, acdc_names)
    acdc = sources.add_parser("acdc", help="ACDC download layout + Valvano et al. scribble folder")
    acdc.add_argument("--acdc-dir", required=True, help="folder with patientXXX/patientXXX_frameYY.nii.gz")
    acdc.add_argument("--scribble-dir", required=True, help="folder with patientXXX_frameYY_scribble.nii.gz")
    acdc.add_argument("--unannotated-value", type=int, default=4)
    _add_dataset_options(acdc, acdc_names)
    generic = sources.add_parser("generic", help="any image + scribble label maps, paired by name")
    generic.add_argument("--images", required=True)
    generic.add_argument("--scribbles", required=True)
    generic.add_argument("--dense", help="optional dense labels (class indices) for evaluation")
    generic.add_argument("--unannotated-value", type=int, required=True,
                         help="value meaning 'not annotated' (0 for ITK-SNAP / 3D Slicer paintings)")
    generic.add_argument("--class-map", help="painted value -> class index, e.g. 1:0,2:1,3:2 (class 0 = "
                                             "background); default: values are class indices")
    _add_dataset_options(generic, None)
    convert.set_defaults(func=command_convert)

    simulate = sub.add_parser("simulate", help="scribbles simulated from dense masks -> nnU-Net raw dataset")
    simulate.add_argument("--images", required=True)
    simulate.add_argument("--labels", required=True, help="dense label maps (class indices)")
    simulate.add_argument("--mode", choices=["2d", "3d"], default="2d", help="per slice (2d) or per volume (3d)")
    simulate.add_argument("--axis", type=int, default=0, help="slice axis for --mode 2d (array order Z Y X)")
    simulate.add_argument("--border", action="store_true", help="also draw strokes along class borders")
    simulate.add_argument("--background-band", type=int, default=8)
    simulate.add_argument("--no-empty-slice-strokes", action="store_true",
                          help="leave slices without foreground unannotated (by default they get a background stroke)")
    simulate.add_argument("--seed", type=int, default=0)
    _add_dataset_options(simulate, None)
    simulate.set_defaults(func=command_simulate)

    pseudo = sub.add_parser("pseudolabel", help="a trained model's confident predictions + the scribbles -> a new "
                                                "scribble dataset for a second training")
    pseudo.add_argument("--source", required=True, help="the scribble dataset the model was trained on (folder, or "
                                                        "name under nnUNet_raw)")
    model = pseudo.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="nnU-Net model folder (<trainer>__<plans>__<configuration>)")
    model.add_argument("-tr", "--trainer", help="trainer class: the model folder is found under "
                                                "$nnUNet_results/<source name>/")
    pseudo.add_argument("-c", "--configuration", default="2d", help="with -tr (default: 2d)")
    pseudo.add_argument("-p", "--plans", default="nnUNetPlans", help="with -tr (default: nnUNetPlans)")
    pseudo.add_argument("-f", "--folds", nargs="+", help="folds to ensemble, or 'all' (default: every fold_<n> "
                                                         "with the checkpoint, as nnUNetv2_predict)")
    pseudo.add_argument("--checkpoint", default="checkpoint_final.pth")
    pseudo.add_argument("--threshold", type=float, nargs="+", default=[DEFAULT_PSEUDOLABEL_THRESHOLD],
                        help="a voxel gets the model's class where the class's probability reaches this; one value "
                             "or one per class in label order, background first "
                             f"(default: {DEFAULT_PSEUDOLABEL_THRESHOLD})")
    pseudo.add_argument("--largest-component", choices=["off", "foreground", "per-class"], default="off",
                        help="first keep the largest connected foreground component of the model's segmentation "
                             "(per-class: also of each class), as `postprocess` does; removed voxels stay unlabelled")
    pseudo.add_argument("--sweep", type=float, nargs="+",
                        help="also tally these uniform thresholds in the summary (labelled fraction, and precision "
                             "where the source has dense labels), to choose --threshold")
    pseudo.add_argument("--device", choices=["cuda", "cpu", "mps"], help="default: cuda if available, else cpu")
    pseudo.add_argument("--disable-tta", action="store_true", help="no test-time mirroring (faster)")
    _add_output_dataset_options(pseudo)
    pseudo.set_defaults(func=command_pseudolabel)

    evaluate = sub.add_parser("evaluate", help="Dice, HD95, ASSD (mm) of predictions against dense labels")
    evaluate.add_argument("--predictions", required=True)
    evaluate.add_argument("--references", required=True)
    evaluate.add_argument("--dataset-json", help="dataset.json naming the classes (default: the one nnU-Net writes "
                                                 "beside its predictions, else every value found in the references)")
    evaluate.add_argument("--output", help="folder for metrics_per_case.csv and summary.json")
    evaluate.set_defaults(func=command_evaluate)

    postprocess = sub.add_parser("postprocess", help="keep the largest connected foreground component of predictions")
    postprocess.add_argument("--predictions", required=True)
    postprocess.add_argument("--output", required=True)
    postprocess.add_argument("--per-class", action="store_true", help="then also each class's largest component")
    postprocess.add_argument("--overwrite", action="store_true")
    postprocess.set_defaults(func=command_postprocess)

    overlay = sub.add_parser("overlay", help="PNG pictures: image and scribbles | prediction filled, dense label outlined")
    overlay.add_argument("--images", required=True)
    overlay.add_argument("--predictions", required=True)
    overlay.add_argument("--output", required=True)
    overlay.add_argument("--references", help="dense labels, drawn as outlines")
    overlay.add_argument("--scribbles", help="scribble maps, drawn where a case has one")
    overlay.add_argument("--dataset-json", help="dataset.json naming the classes and the ignore value (default: the "
                                                "one nnU-Net writes beside its predictions)")
    overlay.add_argument("--ignore-value", type=int, help="scribble value left undrawn (default: from dataset.json)")
    overlay.add_argument("--cases", nargs="+")
    overlay.add_argument("--slice", type=int, help="slice index (default: the most labelled slice)")
    overlay.set_defaults(func=command_overlay)

    demo = sub.add_parser("demo", help="synthetic scribbles -> plan -> train -> predict -> evaluate -> overlay")
    demo.add_argument("--output", default="attenscribble_demo")
    demo.add_argument("--epochs", type=int, default=8)
    demo.add_argument("--iterations", type=int, default=25, help="iterations per epoch")
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(func=command_demo)

    path = sub.add_parser("trainer-path", help="print the folder to put on nnUNet_extTrainer yourself")
    path.set_defaults(func=command_trainer_path)
    return parser


def _exit_on_sigterm(signum, frame):
    """SIGTERM (kill, a scheduler's time limit) unwinds like Ctrl-C, so unfinished outputs are removed."""
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    """The command; callable from Python too, also from a thread (which cannot take over SIGTERM: there a killed
    process leaves its partial output to the next run, which cleans it)."""
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        args.func(args)
    except ScribbleToolError as error:
        print(f"attenscribble: error: {error}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
