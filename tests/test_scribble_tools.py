"""`attenscribble` subcommands on synthetic data: conversion, simulation, evaluation, pictures, bad input."""
import json
import math

import h5py
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from nnunet_attenscribble.scribble_tools.cli import main
from nnunet_attenscribble.scribble_tools.metrics import class_metrics
from nnunet_attenscribble.scribble_tools.simulate import SimulationSettings, simulate_scribbles
from nnunet_attenscribble.scribble_tools.synthetic import synthetic_volume


def _write(array, path, spacing=(2.0, 1.0, 1.0), direction=None):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(reversed(spacing)))
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _generic_layout(root, cases=3, painted_offset=1):
    """images/, scribbles/ (ITK-SNAP style: 0 = nothing, class c painted as c + 1), dense/."""
    for index in range(cases):
        image, label = synthetic_volume((4, 32, 32), index)
        scribble = simulate_scribbles(label, 3, index)
        painted = np.where(scribble == 3, 0, scribble + painted_offset).astype(np.uint8)
        _write(image, root / "images" / f"case{index:02d}_0000.nii.gz")
        _write(painted, root / "scribbles" / f"case{index:02d}.nii.gz")
        _write(label, root / "dense" / f"case{index:02d}.nii.gz")
    return root


def _convert_generic(root, *extra):
    return main(["convert", "generic", "--images", str(root / "images"), "--scribbles", str(root / "scribbles"),
                 "--dense", str(root / "dense"), "--unannotated-value", "0", "--class-map", "1:0,2:1,3:2",
                 "--class-names", "background", "ring", "core", "--dataset", "Dataset900_T",
                 "--raw-dir", str(root / "raw"), *extra])


def test_generic_convert_maps_values_and_splits(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    assert _convert_generic(root, "--test-ids", "2") == 0
    dataset = root / "raw" / "Dataset900_T"
    assert json.loads((dataset / "dataset.json").read_text())["labels"] == \
        {"background": 0, "ring": 1, "core": 2, "ignore": 3}
    assert sorted(p.name for p in (dataset / "labelsTr").iterdir()) == ["case00.nii.gz", "case01.nii.gz"]
    assert [p.name for p in (dataset / "imagesTs").iterdir()] == ["case02_0000.nii.gz"]
    assert (dataset / "denseLabelsTs" / "case02.nii.gz").is_file()
    painted = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "scribbles" / "case00.nii.gz")))
    converted = sitk.GetArrayFromImage(sitk.ReadImage(str(dataset / "labelsTr" / "case00.nii.gz")))
    np.testing.assert_array_equal(converted, np.where(painted == 0, 3, painted - 1))
    assert "% of its voxels scribbled" in capsys.readouterr().out


@pytest.mark.parametrize("breakage,message", [
    ("shape", "shape"), ("spacing", "spacing"), ("orientation", "orientation"), ("values", "label values [7]"),
    ("empty", "no annotated voxel"), ("unpaired", "no label file"), ("truncated", "truncated or damaged"),
    ("collision", "collides"),
])
def test_bad_input_names_file_and_writes_nothing(tmp_path, capsys, breakage, message):
    root = _generic_layout(tmp_path)
    scribble = root / "scribbles" / "case01.nii.gz"
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(scribble)))
    extra = []
    if breakage == "shape":
        _write(array[:, :30], scribble)
    elif breakage == "spacing":
        _write(array, scribble, spacing=(2.0, 1.0, 1.5))
    elif breakage == "orientation":
        _write(array, scribble, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    elif breakage == "values":
        array[0, 0, 0] = 7
        _write(array, scribble)
    elif breakage == "empty":
        _write(np.zeros_like(array), scribble)
    elif breakage == "unpaired":
        scribble.unlink()
    elif breakage == "truncated":
        scribble.write_bytes(scribble.read_bytes()[:100])
    if breakage == "collision":
        code = main(["convert", "generic", "--images", str(root / "images"), "--scribbles", str(root / "scribbles"),
                     "--unannotated-value", "1", "--class-map", "1:0,2:1,3:2", "--class-names", "background", "a",
                     "b", "--dataset", "Dataset900_T", "--raw-dir", str(root / "raw")])
    else:
        code = _convert_generic(root, *extra)
    error = capsys.readouterr().err
    assert code == 2 and message in error
    assert breakage == "unpaired" or "case01" in error or breakage == "collision"
    assert not (root / "raw" / "Dataset900_T").exists()
    assert not list((root / "raw").glob(".Dataset900_T*")) if (root / "raw").exists() else True


def test_existing_dataset_needs_overwrite(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    assert _convert_generic(root) == 0
    assert _convert_generic(root) == 2 and "already exists" in capsys.readouterr().err
    assert _convert_generic(root, "--overwrite") == 0


def test_wsl4mis_h5_needs_geometry_and_keys(tmp_path, capsys):
    image, label = synthetic_volume((3, 16, 16), 0)
    scribble = simulate_scribbles(label, 3, 0)
    h5_dir = tmp_path / "h5"
    h5_dir.mkdir()
    with h5py.File(h5_dir / "patient001_frame01.h5", "w") as handle:
        handle["image"], handle["label"], handle["scribble"] = image, label, scribble
    base = ["convert", "wsl4mis", "--h5-dir", str(h5_dir), "--unannotated-value", "3", "--class-names",
            "background", "ring", "core", "--dataset", "Dataset901_H", "--raw-dir", str(tmp_path / "raw")]
    assert main(base + ["--spacing", "5", "1.5", "1.5"]) == 0
    written = sitk.ReadImage(str(tmp_path / "raw" / "Dataset901_H" / "labelsTr" / "patient001_frame01.nii.gz"))
    assert written.GetSpacing() == (1.5, 1.5, 5.0)
    with pytest.raises(SystemExit):  # geometry is required, never invented
        main(base)
    with h5py.File(h5_dir / "patient002_frame01.h5", "w") as handle:
        handle["image"], handle["label"] = image, label
    assert main(base + ["--spacing", "5", "1.5", "1.5", "--overwrite"]) == 2
    assert "missing key(s) ['scribble']" in capsys.readouterr().err


def test_simulation_is_seeded_thin_and_connected():
    _, label = synthetic_volume((6, 48, 48), 3)
    first = simulate_scribbles(label, 3, seed=5)
    assert np.array_equal(first, simulate_scribbles(label, 3, seed=5))
    assert not np.array_equal(first, simulate_scribbles(label, 3, seed=6))
    for z in range(label.shape[0]):
        for value in (0, 1, 2):
            stroke = first[z] == value
            assert stroke.any(), (z, value)
            assert np.all(label[z][stroke] == value)  # scribbles never cross into another class
            _, components = ndimage.label(stroke, structure=np.ones((3, 3)))
            assert components == 1  # one connected stroke per class and slice
            assert stroke.sum() < 0.5 * (label[z] == value).sum()  # thin: a small fraction of the class
    volume = simulate_scribbles(label, 3, seed=5, settings=SimulationSettings(mode="3d"))
    assert set(np.unique(volume)) == {0, 1, 2, 3}


def test_slices_without_foreground_get_one_background_stroke():
    _, label = synthetic_volume((6, 48, 48), 3)
    label[0] = 0
    stroke = simulate_scribbles(label, 3, seed=5)[0]
    assert set(np.unique(stroke)) == {0, 3}
    assert ndimage.label(stroke == 0, structure=np.ones((3, 3)))[1] == 1
    skipped = simulate_scribbles(label, 3, seed=5, settings=SimulationSettings(empty_frame_strokes=False))[0]
    assert np.all(skipped == 3)


def test_metrics_against_hand_computed_values():
    reference = np.zeros((1, 10, 10), bool)
    reference[0, 2:6, 2:6] = True
    prediction = np.zeros_like(reference)
    prediction[0, 2:6, 3:7] = True
    scores = class_metrics(prediction, reference, (1.0, 2.0, 1.0))
    assert scores["dice"] == pytest.approx(2 * 12 / 32)
    assert scores["hd95"] == pytest.approx(1.0)  # one column shift along x (1 mm)
    empty = class_metrics(np.zeros_like(reference), reference, (1.0, 2.0, 1.0))
    assert empty["dice"] == 0.0 and empty["hd95"] == pytest.approx(math.sqrt(1 + 20 ** 2 + 10 ** 2))
    assert math.isnan(class_metrics(np.zeros_like(reference), np.zeros_like(reference), (1, 1, 1))["dice"])


def test_evaluate_and_overlay_commands(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    predictions = tmp_path / "pred"
    for path in (root / "dense").iterdir():
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        if path.name.startswith("case01"):
            label[label == 2] = 1  # an empty prediction of a present class
        _write(label, predictions / path.name)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "ring": 1, "core": 2,
                                                                   "ignore": 3}}))
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(root / "dense"),
                 "--dataset-json", str(tmp_path / "dataset.json"), "--output", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["per_class"]["core"]["dice"] == pytest.approx(2 / 3)
    assert summary["per_class"]["core"]["empty_predictions"] == 1
    assert summary["per_class"]["ring"]["dice"] < 1.0
    assert "core" in capsys.readouterr().out
    assert (tmp_path / "eval" / "metrics_per_case.csv").read_text().count("\n") == 7
    assert main(["overlay", "--images", str(root / "images"), "--predictions", str(predictions), "--references",
                 str(root / "dense"), "--scribbles", str(root / "scribbles"), "--ignore-value", "0",
                 "--output", str(tmp_path / "png"), "--cases", "case00"]) == 0
    pngs = list((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG"
    (predictions / "case02.nii.gz").unlink()
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(root / "dense")]) == 2
    assert "case02" in capsys.readouterr().err


def _heart_with_islands():
    """Classes 1 | 2 | 1 side by side (one foreground object; class 1 in two parts), plus two far islands."""
    segmentation = np.zeros((6, 20, 20), np.uint8)
    segmentation[1:4, 2:6, 2:6] = 1
    segmentation[1:4, 6:9, 2:6] = 2
    segmentation[1:4, 9:10, 2:6] = 1     # class 1's smaller part, touching class 2 only
    segmentation[1:3, 15:17, 15:17] = 2  # island
    segmentation[5, 12:14, 0:2] = 1      # island
    return segmentation


def test_postprocess_keeps_largest_foreground_then_class_components(tmp_path, capsys):
    segmentation = _heart_with_islands()
    foreground_only = segmentation.copy()
    foreground_only[1:3, 15:17, 15:17] = 0
    foreground_only[5, 12:14, 0:2] = 0
    per_class = foreground_only.copy()
    per_class[1:4, 9:10, 2:6] = 0
    for index in range(2):
        _write(segmentation, tmp_path / "pred" / f"case{index}.nii.gz")
    (tmp_path / "pred" / "dataset.json").write_text('{"labels": {"background": 0, "a": 1, "b": 2}}')
    assert main(["postprocess", "--predictions", str(tmp_path / "pred"), "--output", str(tmp_path / "fg")]) == 0
    assert (tmp_path / "fg" / "dataset.json").read_text() == (tmp_path / "pred" / "dataset.json").read_text()
    assert main(["postprocess", "--predictions", str(tmp_path / "pred"), "--output", str(tmp_path / "cls"),
                 "--per-class"]) == 0
    for folder, expected in (("fg", foreground_only), ("cls", per_class)):
        image = sitk.ReadImage(str(tmp_path / folder / "case1.nii.gz"))
        assert np.array_equal(sitk.GetArrayFromImage(image), expected)
        assert image.GetSpacing() == (1.0, 1.0, 2.0)
    assert main(["postprocess", "--predictions", str(tmp_path / "pred"), "--output", str(tmp_path / "fg")]) == 2
    assert "already exists" in capsys.readouterr().err
    _write(segmentation.astype(np.float32) / 2, tmp_path / "pred" / "case2.nii.gz")
    assert main(["postprocess", "--predictions", str(tmp_path / "pred"), "--output", str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err
    assert "case2.nii.gz" in error and "non-integer values" in error and not (tmp_path / "bad").exists()
    assert not list(tmp_path.glob(".bad.partial-*"))


def test_overlay_panels_name_what_they_show_and_use_a_colour_blind_safe_palette(tmp_path):
    from nnunet_attenscribble.scribble_tools.overlay import CLASS_COLOURS, class_colour, panel_titles, render_case
    assert panel_titles(True, True) == ("image + scribbles", "prediction (filled) vs dense label (outline)")
    assert panel_titles(False, False) == ("image (no scribbles for this case)", "prediction (filled)")
    okabe_ito = {(230, 159, 0), (86, 180, 233), (0, 158, 115), (204, 121, 167), (0, 114, 178), (213, 94, 0)}
    assert {tuple(np.round(c * 255).astype(int)) for c in CLASS_COLOURS} == okabe_ito
    assert not np.allclose(class_colour(1), class_colour(2)) and np.allclose(class_colour(7), class_colour(1))
    image, label = synthetic_volume((2, 32, 32), 0)
    render_case(image, label, label, None, 3, 1, "case", tmp_path / "a.png", class_names={1: "ring", 2: "core"})
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_lines_from_nnunet_output():
    from nnunet_attenscribble.scribble_tools.nnunet_progress import PredictionProgress, TrainingProgress
    training = TrainingProgress(epochs=3)
    lines = ["2026-12-02 17:22:17.432203: Epoch 0 ", "2026-12-02 17:22:17.5: Current learning rate: 0.01 ",
             "2026-12-02 17:22:50.1: train_loss -0.1234 ", "2026-12-02 17:22:50.2: val_loss -0.2 ",
             "2026-12-02 17:22:51.472100: Epoch time: 34.04 s ", "2026-12-02 17:22:52: Epoch 1 ",
             "2026-12-02 17:23:31: train_loss 1.5e-05 ", "2026-12-02 17:23:31: Epoch time: 38.0 s "]
    messages = [m for m in map(training, lines) if m]
    assert messages == ["epoch 1/3, train loss -0.1234, 34 s per epoch, about 68 s left",
                        "epoch 2/3, train loss 0.0000, 36 s per epoch, about 36 s left"]
    prediction = PredictionProgress()
    lines = ["There are 4 cases in the source folder", "There are 2 cases that I would like to predict",
             "", "Predicting case_1:", "done with case_1", "done with case_2"]
    assert [m for m in map(prediction, lines) if m] == ["predicted case_1 (1/2)", "predicted case_2 (2/2)"]
