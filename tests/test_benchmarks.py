"""The benchmarks at tiny size: they must run end to end and report what they promise."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_attenscribble.scribble_tools.errors import ScribbleToolError

from test_real_data import ACDC, needs_acdc

REPOSITORY = Path(__file__).resolve().parents[1]


def test_step_time_benchmark_tiny(tmp_path):
    output = tmp_path / "step.json"
    result = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "step_time.py"), "--preset", "tiny-2d",
                             "--steps", "2", "--warmup", "1", "--json", str(output),
                             "--trainers", "nnUNetTrainer", "AttenScribbleTrainer_PaperObjective"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["attention_stage"] == 2
    assert set(report["ratios"]) == {"step_time", "peak_memory", "inference"}
    assert all(v > 0 for v in report["ratios"].values())
    assert set(report["loss_terms"]) == {"crf", "similarity"}
    assert "median step" in result.stdout


@needs_acdc
@pytest.mark.integration
def test_scribble_benchmark_smoke_with_budgets(tmp_path):
    data = tmp_path / "data"  # --data-dir: the layout of ../shared/data anywhere (the GPU machine's copy)
    data.mkdir()
    (data / "acdc-scribble").symlink_to(ACDC)
    results = tmp_path / "results"
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "scribble_benchmark.py"), "--profile", "smoke",
               "--datasets", "acdc", "--trainers", "AttenScribbleTrainer_PaperObjective", "dense",
               "two-stage-t0.8-nnUNetTrainer_AttenScribbleBudget", "--budgets", "1", "2",
               "--work-dir", str(tmp_path / "work"), "--results-dir", str(results), "--data-dir", str(data),
               "--parallel", "2"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert all(str(link.readlink()).startswith(str(data.resolve())) for link in (tmp_path / "work" / "acdc_h5").iterdir())
    records = {path.name: json.loads(path.read_text()) for path in (results / "acdc").glob("*.json")}
    assert set(records) == {f"{t}__{b}x__seed0.json" for t in ("AttenScribbleTrainer_PaperObjective", "dense")
                            for b in (1, 2)} | {"AttenScribbleTrainer__1x__seed0.json",  # the two-stage row's stage 1
                                                "two-stage-t0.8-nnUNetTrainer_AttenScribbleBudget__2x__seed0.json"}
    two_stage = records["two-stage-t0.8-nnUNetTrainer_AttenScribbleBudget__2x__seed0.json"]
    assert two_stage["iterations"] == 8 and two_stage["stage1"]["iterations"] == 4  # 1x + 1x = the 2x budget
    assert two_stage["stage1"]["mean"] == records["AttenScribbleTrainer__1x__seed0.json"]["mean"]
    assert set(two_stage["pseudolabels"]["thresholds"].values()) == {0.8} and len(two_stage["pseudolabels"]["sweep"]) == 6
    dense_1x, dense_2x = records["dense__1x__seed0.json"], records["dense__2x__seed0.json"]
    assert set(dense_1x["per_class"]) == {"RV", "MYO", "LV"} and dense_2x["iterations"] == 2 * dense_1x["iterations"]
    assert dense_1x["version"] and dense_1x["commit"] and "--budgets" in dense_1x["command"]
    # the 2x run's poly LR spans its whole run: nnU-Net trained twice the epochs, not the 1x run continued
    report = (results / "report.md").read_text()
    assert "| attention + CRF + similarity loss (the paper's full objective) | 2x (8) | 0 |" in report
    assert "| nnU-Net on dense labels | 1x (4) | 0 |" in report and report in result.stdout
    assert "| two-stage: default 1x, pseudo-labels p >= 0.8, then nnU-Net baseline | 2x (8) | 0 |" in report
    assert (results / "scaling.png").is_file()
    # resumable: a second run reuses every record and prepares nothing
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "training" not in again.stdout and "every run asked for is recorded" in again.stdout


def test_benchmark_jobs_cover_every_budget_trainer_and_seed():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import Job, training_jobs
    jobs = training_jobs(["AttenScribbleTrainer", "dense"], [1, 9], [0, 1], 400, (802, "Scribbles"), (812, "Dense"))
    assert len(jobs) == 8
    assert jobs[0] == Job("AttenScribbleTrainer", 1, 0, 400, "AttenScribbleTrainer", 802, "Scribbles")
    assert jobs[3] == Job("dense", 1, 1, 400, "nnUNetTrainer_AttenScribbleBudget", 812, "Dense")
    assert jobs[4] == Job("AttenScribbleTrainer", 9, 0, 3600, "AttenScribbleTrainer", 802, "Scribbles")
    two_stage = training_jobs(["two-stage-t0.9-AttenScribbleTrainer"], [1, 3], [0], 400, (802, "Scribbles"),
                              (812, "Dense"), (822, "Pseudo"))
    assert two_stage == [Job("two-stage-t0.9-AttenScribbleTrainer", 3, 0, 800, "AttenScribbleTrainer", 822, "Pseudo")]


def test_report_table_gives_mean_sd_and_share_of_dense_at_the_same_budget(tmp_path):
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from benchmark_report import format_report, load_records, plot_report, record_path, write_record

    def record(trainer, budget, seed, dice, hd95):
        per_class = {"A": {"dice": dice, "hd95": hd95}}
        return {"dataset": "toy", "trainer": trainer, "budget": budget, "seed": seed, "iterations": 100 * budget,
                "configuration": "2d", "per_class": per_class, "mean": {"dice": dice, "hd95": hd95}}

    for args in [("base", 1, 0, 0.5, 10.0), ("base", 1, 1, 0.7, 30.0), ("dense", 1, 0, 0.8, float("nan")),
                 ("base", 3, 0, 0.9, 5.0), ("dense", 3, 0, 0.9, 2.0)]:
        write_record(record_path(tmp_path, "toy", *args[:3]), record(*args))
    assert json.loads(record_path(tmp_path, "toy", "dense", 1, 0).read_text())["mean"]["hd95"] is None  # strict JSON
    records = load_records(tmp_path)
    report = format_report(records)
    assert "| base | 1x (100) | 0,1 | 0.600 ± 0.100 | 0.600 ± 0.100 | 20.0 ± 10.0 | 75.0 |" in report
    assert "| base | 3x (300) | 0 | 0.900 | 0.900 | 5.0 | 100.0 |" in report
    assert "| nnU-Net on dense labels | 1x (100) | 0 | 0.800 | 0.800 | – | – |" in report
    plot_report(records, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 10000


def test_report_names_equal_time_budgets_after_the_multiples(tmp_path):
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from benchmark_report import format_report, load_records, record_path, write_record

    def record(trainer, budget, iterations, dice):
        return {"dataset": "toy", "trainer": trainer, "budget": budget, "seed": 0, "iterations": iterations,
                "configuration": "2d", "per_class": {"A": {"dice": dice, "hd95": 1.0}},
                "mean": {"dice": dice, "hd95": 1.0}}

    for args in [("base", "5min", 650, 0.6), ("base", "0.5min", 100, 0.4), ("base", 2, 200, 0.5),
                 ("dense", "5min", 700, 0.8)]:
        write_record(record_path(tmp_path, "toy", args[0], args[1], 0), record(*args))
    assert record_path(tmp_path, "toy", "base", "5min", 0).name == "base__5min__seed0.json"
    report = format_report(load_records(tmp_path))
    assert "toy (2d, 1x = 100 iterations)" in report
    rows = [line for line in report.splitlines() if line.startswith("| base")]
    assert [row.split(" | ")[1] for row in rows] == ["2x (200)", "0.5min (100)", "5min (650)"]
    assert rows[-1].endswith("| 75.0 |")  # share of dense at the same minutes


def test_equal_time_runs_get_the_whole_epochs_that_fit():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import fitted_iterations
    assert fitted_iterations(10, 12.0, 50) == 50 * 50
    assert fitted_iterations(10, 13.0, 50) == 46 * 50  # 600 s // 13 s
    assert fitted_iterations(0.01, 12.0, 50) == 50  # never less than one epoch


@needs_acdc
@pytest.mark.integration
def test_scribble_benchmark_smoke_with_equal_minutes(tmp_path):
    """--minutes: every trainer timed under the same parallelism, then trained for the epochs that fit."""
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import PROFILES, fitted_iterations
    data = tmp_path / "data"
    data.mkdir()
    (data / "acdc-scribble").symlink_to(ACDC)
    results = tmp_path / "results"
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "scribble_benchmark.py"), "--profile", "smoke",
               "--datasets", "acdc", "--trainers", "nnUNetTrainer_AttenScribbleBudget", "AttenScribbleTrainer",
               "--minutes", "0.1", "--work-dir", str(tmp_path / "work"), "--results-dir", str(results),
               "--data-dir", str(data), "--parallel", "2"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    records = {path.name: json.loads(path.read_text()) for path in (results / "acdc").glob("*.json")}
    assert set(records) == {"nnUNetTrainer_AttenScribbleBudget__0.1min__seed0.json",
                            "AttenScribbleTrainer__0.1min__seed0.json"}
    for record in records.values():
        assert record["budget"] == "0.1min" and record["minutes"] == 0.1 and record["calibrated_epoch_seconds"] > 0
        assert record["iterations"] == fitted_iterations(0.1, record["calibrated_epoch_seconds"],
                                                         PROFILES["smoke"].iterations_per_epoch)
        assert f"| 0.1min ({record['iterations']}) | 0 |" in (results / "report.md").read_text()
    assert len(list((tmp_path / "work" / "acdc" / "calibration").iterdir())) == 2
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "every run asked for is recorded" in again.stdout
    refused = subprocess.run(command + ["--budgets", "1"], capture_output=True, text=True)
    assert refused.returncode == 2 and "not allowed with argument" in refused.stderr


def test_cpu_profile_reduces_each_dataset_with_its_own_batch_size():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import PROFILES, reduced_configuration
    from plans_helpers import CASES, configuration as configuration_manager
    configuration = {**configuration_manager(*CASES["plain-3d"]).configuration,
                     "median_image_size_in_voxels": [8, 16, 16]}
    cpu = PROFILES["cpu"]
    reduced = reduced_configuration(configuration, cpu, cpu.hippocampus_spacing_factor, cpu.hippocampus_batch_size)
    assert (reduced["batch_size"], cpu.acdc_batch_size) == (4, 8)
    stages = configuration["architecture"]["arch_kwargs"]["n_stages"]
    assert reduced["architecture"]["arch_kwargs"]["n_stages"] == stages - 1
    assert reduced_configuration(configuration, PROFILES["gpu"], 1.0, 0)["batch_size"] == configuration["batch_size"]


def test_a_continued_training_counts_the_epochs_of_earlier_invocations(tmp_path):
    """train_seconds of a run killed and continued: the logged epochs before the continuation plus the last
    invocation's wall time; the epochs come from nnU-Net's own checkpoint."""
    import torch
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import epoch_seconds, finished_epochs
    assert finished_epochs(tmp_path) == 0
    logging = {"epoch_start_timestamps": [0.0, 10.0, 30.0, 60.0], "epoch_end_timestamps": [5.0, 25.0, 50.0, 61.0]}
    torch.save({"current_epoch": 2, "logging": logging}, tmp_path / "checkpoint_latest.pth")
    assert finished_epochs(tmp_path) == 2
    torch.save({"current_epoch": 4, "logging": logging}, tmp_path / "checkpoint_final.pth")
    assert finished_epochs(tmp_path) == 4
    assert epoch_seconds(tmp_path / "checkpoint_final.pth", 2) == 20.0
    assert epoch_seconds(tmp_path / "checkpoint_final.pth", 0) == 0.0


def test_error_location_counts_far_false_foreground(tmp_path):
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from error_location import error_counts
    reference = np.zeros((2, 40, 40), np.uint8)
    reference[:, 10:20, 10:20] = 1
    prediction = reference.copy()
    prediction[:, 10:20, 20] = 1        # boundary error: 1 mm from the reference
    prediction[0, 35:38, 35:38] = 2     # island: ~21 mm away at 1 mm spacing
    prediction[1, 12:14, 12:14] = 0     # missed
    for folder, array in (("ref", reference), ("pred", prediction)):
        (tmp_path / folder).mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / folder / "c.nii.gz"))
    counts = error_counts(tmp_path / "pred", tmp_path / "ref", distance_mm=10)[0]
    assert counts == dict(correct=196, missed=4, wrong=29, wrong_far=9)


def test_class_confusion_tells_missed_from_confused(tmp_path):
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from error_location import confusion_lines, error_counts
    reference = np.zeros((1, 6, 6), np.uint8)
    reference[0, :2] = 1                # 12 voxels of class 1
    reference[0, 2:3] = 2               # 6 voxels of class 2
    prediction = reference.copy()
    prediction[0, 0, :3] = 0            # 3 of class 1 missed to the background
    prediction[0, 1, :1] = 2            # 1 of class 1 confused with class 2
    later_reference = np.zeros((1, 2, 2), np.uint8)
    later_prediction = later_reference.copy()
    later_prediction[0, 1, 1] = 3       # a later case predicts a class no earlier map has
    for folder, arrays in (("ref", (reference, later_reference)), ("pred", (prediction, later_prediction))):
        (tmp_path / folder).mkdir()
        for name, array in zip(("a", "b"), arrays):
            sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / folder / f"{name}.nii.gz"))
    confusion = error_counts(tmp_path / "pred", tmp_path / "ref", distance_mm=10)[1]
    expected = np.zeros((4, 4), np.int64)
    for r, p in zip(np.concatenate([reference.ravel(), later_reference.ravel()]),
                    np.concatenate([prediction.ravel(), later_prediction.ravel()])):
        expected[r, p] += 1
    np.testing.assert_array_equal(confusion, expected)
    assert confusion_lines(confusion) == [
        "reference class 1 (12 voxels): 66.7 % right; missed: 25.0 % as 0, 8.3 % as 2",
        "reference class 2 (6 voxels): 100.0 % right; missed: none"]


def test_error_location_names_a_missing_prediction(tmp_path):
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from error_location import error_counts
    for folder, name in (("ref", "c"), ("pred", "d")):
        (tmp_path / folder).mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((1, 4, 4), np.uint8)), str(tmp_path / folder / f"{name}.nii.gz"))
    with pytest.raises(ScribbleToolError, match=r"pred: no prediction for case\(s\) c$"):
        error_counts(tmp_path / "pred", tmp_path / "ref", distance_mm=10)
