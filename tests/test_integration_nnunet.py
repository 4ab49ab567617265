"""The trainer through nnU-Net's own executables: plan, preprocess, train, resume, validate, predict (CPU)."""
import json

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_attenscribble.scribble_tools.raw_dataset import write_raw_dataset
from nnunet_attenscribble.scribble_tools.synthetic import synthetic_cases, synthetic_spec

from nnunet_env import TINY_BUDGET, nnunet_environment, run

pytestmark = pytest.mark.integration

DATASETS = {
    "2d": ("Dataset991_Synth2D", 991, (6, 48, 48), (5.0, 1.0, 1.0)),
    "3d_fullres": ("Dataset992_Synth3D", 992, (16, 20, 20), (1.0, 1.0, 1.0)),
}


@pytest.fixture(scope="module")
def nnunet_root(tmp_path_factory):
    """Both synthetic scribble datasets, planned and preprocessed by nnU-Net."""
    root = tmp_path_factory.mktemp("nnunet")
    env = nnunet_environment(root)
    for configuration, (name, identifier, shape, spacing) in DATASETS.items():
        mode = "2d" if configuration == "2d" else "3d"
        write_raw_dataset(synthetic_cases(6, 2, shape, spacing, mode), synthetic_spec(name), root / "raw")
        run(["nnUNetv2_plan_and_preprocess", "-d", identifier, "-c", configuration, "-np", "1",
             "--verify_dataset_integrity"], env)
    return root


def _train(root, identifier, configuration, trainer, *extra, **budget):
    env = nnunet_environment(root, **{**TINY_BUDGET, **budget})
    return run(["nnUNetv2_train", identifier, configuration, 0, "-tr", trainer, "-device", "cpu", *extra], env)


def _predict_and_check(root, configuration, trainer):
    name, identifier, shape, _ = DATASETS[configuration]
    output = root / f"prediction_{configuration}_{trainer}"
    run(["nnUNetv2_predict", "-i", root / "raw" / name / "imagesTs", "-o", output, "-d", identifier, "-c",
         configuration, "-f", 0, "-tr", trainer, "-device", "cpu", "--disable_tta"], nnunet_environment(root))
    predictions = sorted(output.glob("*.nii.gz"))
    assert [p.name for p in predictions] == ["case_006.nii.gz", "case_007.nii.gz"]
    for path in predictions:
        array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        assert array.shape == shape
        assert set(np.unique(array)) <= {0, 1, 2}  # classes only, never the ignore value


@pytest.mark.parametrize("configuration, trainer", [("2d", "AttenScribbleTrainer"),
                                                    ("3d_fullres", "AttenScribbleTrainer_PaperObjective")])
def test_train_and_predict(nnunet_root, configuration, trainer):
    name, identifier, _, _ = DATASETS[configuration]
    result = _train(nnunet_root, identifier, configuration, trainer)
    fold = nnunet_root / "results" / name / f"{trainer}__nnUNetPlans__{configuration}" / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    log = next(fold.glob("training_log_*.txt")).read_text()
    assert "attention after encoder stage 2" in log
    terms = [line for line in log.splitlines() if "loss terms:" in line]
    assert len(terms) == 2 and "crf" in terms[0]
    assert ("similarity" in terms[0]) == (trainer == "AttenScribbleTrainer_PaperObjective")
    assert "nan" not in log.lower().replace("nnunet", "")
    assert (fold / "validation").is_dir() and f"Trainer '{trainer}'" in result.stdout
    _predict_and_check(nnunet_root, configuration, trainer)


def test_resume_and_validation_only(nnunet_root):
    name, identifier, _, _ = DATASETS["2d"]
    trainer = "AttenScribbleTrainer_PlusSimilarity"
    _train(nnunet_root, identifier, "2d", trainer, ATTENSCRIBBLE_EPOCHS=1, ATTENSCRIBBLE_SAVE_EVERY=3)
    fold = nnunet_root / "results" / name / f"{trainer}__nnUNetPlans__2d" / "fold_0"
    assert json.loads((fold / "debug.json").read_text())["save_every"] == "3"
    summary = fold / "validation" / "summary.json"
    summary.unlink()
    _train(nnunet_root, identifier, "2d", trainer, "--c", ATTENSCRIBBLE_EPOCHS=2)
    logs = "".join(p.read_text() for p in fold.glob("training_log_*.txt"))
    assert "Epoch 1" in logs and summary.is_file()
    summary.unlink()
    _train(nnunet_root, identifier, "2d", trainer, "--val")
    assert json.loads(summary.read_text())["foreground_mean"] is not None


def test_ablation_without_attention_and_budget_baseline(nnunet_root):
    name, identifier, _, _ = DATASETS["2d"]
    for trainer in ("AttenScribbleTrainer_PartialCEDice", "nnUNetTrainer_AttenScribbleBudget"):
        _train(nnunet_root, identifier, "2d", trainer)
        fold = nnunet_root / "results" / name / f"{trainer}__nnUNetPlans__2d" / "fold_0"
        log = next(fold.glob("training_log_*.txt")).read_text()
        assert log.count("Epoch ") >= 2 and (fold / "checkpoint_final.pth").is_file()
    _predict_and_check(nnunet_root, "2d", "AttenScribbleTrainer_PartialCEDice")


def test_equal_seeds_train_identically_with_augmentation_workers(nnunet_root):
    """ATTENSCRIBBLE_SEED makes a run reproducible although nnU-Net augments in two worker processes."""
    import torch
    name, identifier, _, _ = DATASETS["2d"]
    weights = {}
    for run_name, seed in (("first", 5), ("again", 5), ("other", 6)):
        results = nnunet_root / f"results_seed_{run_name}"
        _train(nnunet_root, identifier, "2d", "AttenScribbleTrainer", nnUNet_n_proc_DA=2,
               ATTENSCRIBBLE_SEED=seed, nnUNet_results=results)
        fold = results / name / "AttenScribbleTrainer__nnUNetPlans__2d" / "fold_0"
        weights[run_name] = torch.load(fold / "checkpoint_final.pth", map_location="cpu",
                                       weights_only=False)["network_weights"]
    assert all(torch.equal(weights["first"][k], weights["again"][k]) for k in weights["first"])
    assert not all(torch.equal(weights["first"][k], weights["other"][k]) for k in weights["first"])


def test_python_predictor_api_finds_trainer(nnunet_root):
    """nnUNetPredictor looks the class up by the name in the checkpoint, in a fresh interpreter."""
    name, _, shape, _ = DATASETS["3d_fullres"]
    model = nnunet_root / "results" / name / "AttenScribbleTrainer_PaperObjective__nnUNetPlans__3d_fullres"
    if not (model / "fold_0" / "checkpoint_final.pth").is_file():
        pytest.skip("needs the 3d_fullres model of test_train_and_predict")
    script = (
        "import sys, torch, numpy as np\n"
        "from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor\n"
        "p = nnUNetPredictor(device=torch.device('cpu'), use_mirroring=False)\n"
        f"p.initialize_from_trained_model_folder(r'{model}', use_folds=(0,), checkpoint_name='checkpoint_final.pth')\n"
        f"seg = p.predict_single_npy_array(np.random.rand(1, *{shape}).astype(np.float32), "
        "{'spacing': [1.0, 1.0, 1.0]}, None, None, False)\n"
        "print(type(p.network).__name__, seg.shape)\n")
    result = run(["python", "-c", script], nnunet_environment(nnunet_root))
    assert f"AttentionUNet {shape}" in result.stdout
