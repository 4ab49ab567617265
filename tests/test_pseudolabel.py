"""`attenscribble pseudolabel`: the labelling rule against a voxel-by-voxel reference, the dataset it writes (with a
model given as a function), bad input, and the whole command on a model trained by nnU-Net's own executables."""
import json
import re
import os

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_attenscribble.scribble_tools.cli import main
from nnunet_attenscribble.scribble_tools.errors import ScribbleToolError
from nnunet_attenscribble.scribble_tools.pseudolabel import (PseudoLabelSettings, Tally, model_claims, pseudo_label,
                                                             write_pseudolabel_dataset)
from nnunet_attenscribble.scribble_tools.raw_dataset import write_raw_dataset
from nnunet_attenscribble.scribble_tools.synthetic import synthetic_cases, synthetic_spec

from nnunet_env import TINY_BUDGET, nnunet_environment, run

IGNORE = 3  # synthetic datasets: background, ring, core, ignore


def _reference_pseudo_label(probabilities, scribble, thresholds, ignore):
    """Voxel by voxel, as the command's documentation states the rule."""
    label = np.empty(scribble.shape, np.uint8)
    for index in np.ndindex(scribble.shape):
        voxel = probabilities[(slice(None), *index)]
        best = int(np.argmax(voxel))
        if scribble[index] != ignore:
            label[index] = scribble[index]
        elif voxel[best] >= thresholds[best]:
            label[index] = best
        else:
            label[index] = ignore
    return label


def test_rule_keeps_scribbles_and_labels_only_confident_voxels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(3, 4, 9, 11))
    probabilities = np.exp(logits) / np.exp(logits).sum(0)
    scribble = np.full((4, 9, 11), IGNORE, np.uint8)
    scribble[1, 2:7, 3] = 1
    scribble[2, 4, 1:9] = 0
    scribble[3, 5:8, 6] = 2
    thresholds = np.array([0.5, 0.7, 0.9])
    claims = model_claims(probabilities.astype(np.float32))
    label = pseudo_label(*claims, scribble, thresholds, IGNORE)
    np.testing.assert_array_equal(label, _reference_pseudo_label(probabilities.astype(np.float32), scribble,
                                                                 thresholds, IGNORE))
    assert {0, 1, 2, IGNORE} <= set(np.unique(label))  # the test covers every outcome
    strict = pseudo_label(*claims, scribble, np.ones(3), IGNORE)  # probability 1 is never reached: scribbles only
    np.testing.assert_array_equal(strict, scribble)


def test_largest_component_rule_leaves_far_islands_unlabelled_but_keeps_scribbles():
    probabilities = np.zeros((3, 1, 20, 20), np.float32)
    probabilities[0] = 0.98
    probabilities[:, :, 4:10, 4:10] = np.array([0.01, 0.98, 0.01])[:, None, None, None]   # main object (class 1)
    probabilities[:, :, 15:17, 15:17] = np.array([0.01, 0.01, 0.98])[:, None, None, None]  # far island (class 2)
    probabilities[:, :, 1:3, 16:18] = np.array([0.01, 0.01, 0.98])[:, None, None, None]    # a second island
    scribble = np.full((1, 20, 20), IGNORE, np.uint8)
    scribble[0, 16, 16] = 2  # an annotator marked one island voxel: it stays
    thresholds = np.full(3, 0.9)
    plain = pseudo_label(*model_claims(probabilities, "off"), scribble, thresholds, IGNORE)
    assert (plain[0, 15:17, 15:17] == 2).all() and (plain[0, 1:3, 16:18] == 2).all()
    cleaned = pseudo_label(*model_claims(probabilities, "foreground"), scribble, thresholds, IGNORE)
    assert (cleaned[0, 4:10, 4:10] == 1).all() and (cleaned[0, 1:3, 16:18] == IGNORE).all()
    assert cleaned[0, 16, 16] == 2 and cleaned[0, 15, 15] == IGNORE
    assert cleaned[0, 0, 0] == 0


def test_tally_counts_against_brute_force():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 4, size=(3, 7, 8)).astype(np.uint8)
    scribble_mask = rng.random((3, 7, 8)) < 0.2
    dense = rng.integers(0, 3, size=(3, 7, 8)).astype(np.uint8)
    tally = Tally(3)
    tally.add(label, scribble_mask, dense)
    for value in range(3):
        model = (label == value) & ~scribble_mask
        assert tally.scribbled[value] == np.sum((label == value) & scribble_mask)
        assert tally.labelled[value] == np.sum(model)
        assert tally.correct[value] == np.sum(model & (dense == value))
        assert tally.dense[value] == np.sum(dense == value)
        assert tally.dense_covered[value] == np.sum((dense == value) & (label == value))
    summary = tally.as_dict(["background", "ring", "core"], with_dense=True)
    assert summary["unlabelled_fraction"] == pytest.approx(np.mean(label == IGNORE))


def _source(root, mode="3d", shape=(6, 24, 24), name="Dataset930_Source"):
    write_raw_dataset(synthetic_cases(3, 1, shape, (2.0, 1.0, 1.0), mode), synthetic_spec(name), root / "raw")
    return root / "raw" / name


def _model_from_dense(source, confidence=0.95):
    """A stand-in model for the writer's own tests: the dense label as a probability map, given `confidence` for
    the labelled class (a trained model is exercised in test_command_on_a_model_trained_by_nnunet)."""
    def load():
        def predict(image_files):
            case = image_files[0].name[: -len("_0000.nii.gz")]
            dense = sitk.GetArrayFromImage(sitk.ReadImage(str(source / "denseLabelsTr" / f"{case}.nii.gz")))
            probabilities = np.full((3, *dense.shape), (1 - confidence) / 2, np.float32)
            np.put_along_axis(probabilities, dense[None].astype(np.int64), confidence, 0)
            return probabilities
        return predict
    return load


def test_writer_links_images_keeps_scribbles_and_summarises(tmp_path):
    source = _source(tmp_path)
    folder, summary = write_pseudolabel_dataset(source, "Dataset931_Pseudo", tmp_path / "raw", _model_from_dense(source),
                                                PseudoLabelSettings([0.9], sweep=[0.99]))
    for case in ("case_000", "case_001", "case_002"):
        image = folder / "imagesTr" / f"{case}_0000.nii.gz"
        assert image.is_symlink() and image.resolve() == (source / "imagesTr" / image.name).resolve()
        scribble = sitk.GetArrayFromImage(sitk.ReadImage(str(source / "labelsTr" / f"{case}.nii.gz")))
        dense = sitk.GetArrayFromImage(sitk.ReadImage(str(source / "denseLabelsTr" / f"{case}.nii.gz")))
        pseudo_image = sitk.ReadImage(str(folder / "labelsTr" / f"{case}.nii.gz"))
        pseudo = sitk.GetArrayFromImage(pseudo_image)
        assert pseudo_image.GetSpacing() == sitk.ReadImage(str(source / "labelsTr" / f"{case}.nii.gz")).GetSpacing()
        annotated = scribble != IGNORE
        np.testing.assert_array_equal(pseudo[annotated], scribble[annotated])
        np.testing.assert_array_equal(pseudo[~annotated], dense[~annotated])  # 0.95 >= 0.9: everything labelled
    assert (folder / "imagesTs" / "case_003_0000.nii.gz").is_symlink()
    assert (folder / "denseLabelsTs" / "case_003.nii.gz").is_symlink()
    assert json.loads((folder / "dataset.json").read_text()) == json.loads((source / "dataset.json").read_text())
    written = json.loads((folder / "pseudolabel_summary.json").read_text())
    assert written["unlabelled_fraction"] == pytest.approx(0.0)
    assert all(v == pytest.approx(1.0) for v in written["model_label_precision"].values())
    assert written["sweep"][0]["threshold"] == 0.99
    assert sum(written["sweep"][0]["model_labelled_fraction"].values()) == 0.0  # 0.95 < 0.99: scribbles only
    assert summary["thresholds"] == {"background": 0.9, "ring": 0.9, "core": 0.9}


def test_writer_per_class_thresholds_and_refusals(tmp_path):
    source = _source(tmp_path)
    folder, summary = write_pseudolabel_dataset(source, "Dataset931_Pseudo", tmp_path / "raw", _model_from_dense(source),
                                                PseudoLabelSettings([0.9, 0.99, 0.9]))
    assert summary["model_labelled_fraction"]["ring"] == 0.0 and summary["model_labelled_fraction"]["core"] > 0
    before = sorted(p.name for p in (folder / "labelsTr").iterdir())
    with pytest.raises(ScribbleToolError, match="already exists"):
        write_pseudolabel_dataset(source, "Dataset931_Pseudo", tmp_path / "raw", _model_from_dense(source),
                                  PseudoLabelSettings([0.9]))

    def failing_model():
        predict = _model_from_dense(source)()
        calls = []

        def halfway(files):
            calls.append(files)
            if len(calls) == 2:
                raise RuntimeError("the model failed on the second case")
            return predict(files)
        return halfway
    with pytest.raises(RuntimeError):
        write_pseudolabel_dataset(source, "Dataset931_Pseudo", tmp_path / "raw", failing_model,
                                  PseudoLabelSettings([0.5]), overwrite=True)
    assert sorted(p.name for p in (folder / "labelsTr").iterdir()) == before  # the old dataset is untouched
    assert not [p for p in (tmp_path / "raw").iterdir() if p.name.startswith(".")]  # no partial output left


@pytest.mark.parametrize("breakage, message", [
    ("threshold_count", "give one value or one per class (3"),
    ("threshold_range", "probabilities lie in [0, 1]"),
    ("no_ignore", "has no 'ignore' label"),
    ("missing_label", "missing (training case case_001)"),
    ("truncated_image", "case_002_0000.nii.gz: is truncated or damaged"),
    ("wrong_shape", "differs from the model's prediction"),
    ("id_taken", "dataset ID 930 is already used by Dataset930_Source"),
    ("into_source", "output lies inside the input folder"),
])
def test_writer_bad_input_names_the_problem_and_writes_nothing(tmp_path, breakage, message):
    source = _source(tmp_path)
    name, raw, thresholds, load = "Dataset931_Pseudo", tmp_path / "raw", [0.9], _model_from_dense(source)
    if breakage == "threshold_count":
        thresholds = [0.9, 0.9]
    elif breakage == "threshold_range":
        thresholds = [1.5]
    elif breakage == "no_ignore":
        spec = json.loads((source / "dataset.json").read_text())
        del spec["labels"]["ignore"]
        (source / "dataset.json").write_text(json.dumps(spec))
    elif breakage == "missing_label":
        (source / "labelsTr" / "case_001.nii.gz").unlink()
    elif breakage == "truncated_image":
        image = source / "imagesTr" / "case_002_0000.nii.gz"
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    elif breakage == "wrong_shape":
        load = lambda: (lambda files: np.full((3, 2, 2, 2), 1 / 3, np.float32))  # noqa: E731
    elif breakage == "id_taken":
        name = "Dataset930_Other"
    elif breakage == "into_source":
        raw = source
    before = sorted(os.listdir(tmp_path / "raw"))
    with pytest.raises(ScribbleToolError, match=re.escape(message)):
        write_pseudolabel_dataset(source, name, raw, load, PseudoLabelSettings(thresholds))
    assert sorted(os.listdir(tmp_path / "raw")) == before


@pytest.fixture(scope="module")
def trained_2d_model(tmp_path_factory):
    """A synthetic 2d scribble dataset and an AttenScribbleTrainer trained on it for a few iterations by nnU-Net."""
    root = tmp_path_factory.mktemp("pseudolabel")
    env = nnunet_environment(root)
    write_raw_dataset(synthetic_cases(6, 1, (4, 48, 48), (5.0, 1.0, 1.0), "2d"), synthetic_spec("Dataset941_Synth"),
                      root / "raw")
    run(["nnUNetv2_plan_and_preprocess", "-d", 941, "-c", "2d", "-np", "1"], env)
    run(["nnUNetv2_train", 941, "2d", 0, "-tr", "AttenScribbleTrainer", "-device", "cpu"],
        nnunet_environment(root, **TINY_BUDGET))
    return root, env


@pytest.mark.integration
def test_command_on_a_model_trained_by_nnunet(trained_2d_model, capsys, monkeypatch):
    root, env = trained_2d_model
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # restored after the test
        monkeypatch.setenv(key, env[key])
    code = main(["pseudolabel", "--source", "Dataset941_Synth", "-tr", "AttenScribbleTrainer", "-c", "2d",
                 "-f", "0", "--device", "cpu", "--threshold", "0.6", "--largest-component", "foreground",
                 "--sweep", "0.5", "0.99", "--dataset", "Dataset942_SynthPseudo"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert "| core | 0.6 |" in output and "unlabelled (ignore)" in output and "threshold 0.99: " in output
    folder = root / "raw" / "Dataset942_SynthPseudo"
    summary = json.loads((folder / "pseudolabel_summary.json").read_text())
    assert summary["folds"] == ["0"] and summary["component_rule"] == "foreground"
    labelled = [s["model_labelled_fraction"] for s in summary["sweep"]]
    assert sum(labelled[0].values()) >= sum(labelled[1].values())  # a higher threshold never labels more
    for case in range(6):
        scribble = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "raw" / "Dataset941_Synth" / "labelsTr" / f"case_{case:03d}.nii.gz")))
        pseudo = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labelsTr" / f"case_{case:03d}.nii.gz")))
        assert pseudo.shape == scribble.shape
        np.testing.assert_array_equal(pseudo[scribble != IGNORE], scribble[scribble != IGNORE])
    # nnU-Net accepts the new dataset as it is
    run(["nnUNetv2_plan_and_preprocess", "-d", 942, "-c", "2d", "-np", "1", "--verify_dataset_integrity"], env)


@pytest.mark.integration
def test_command_refuses_a_model_of_other_classes_and_a_missing_fold(trained_2d_model, tmp_path, capsys):
    root, _ = trained_2d_model
    model = root / "results" / "Dataset941_Synth" / "AttenScribbleTrainer__nnUNetPlans__2d"
    command = ["pseudolabel", "--source", str(root / "raw" / "Dataset941_Synth"), "--model", str(model),
               "--dataset", "Dataset943_X", "--raw-dir", str(tmp_path)]
    assert main(command + ["-f", "1"]) == 2
    assert "fold_1/checkpoint_final.pth: missing" in capsys.readouterr().err
    other = _source(tmp_path / "other", name="Dataset944_Other")
    spec = json.loads((other / "dataset.json").read_text())
    spec["labels"] = {"background": 0, "liver": 1, "spleen": 2, "ignore": 3}
    (other / "dataset.json").write_text(json.dumps(spec))
    command[2] = str(other)
    assert main(command) == 2
    assert "differ from those of" in capsys.readouterr().err and not (tmp_path / "Dataset943_X").exists()
