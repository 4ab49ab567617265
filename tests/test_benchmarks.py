"""The benchmarks at tiny size: they must run end to end and report what they promise."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_real_data import ACDC, needs_acdc

REPOSITORY = Path(__file__).resolve().parents[1]


def test_step_time_benchmark_tiny(tmp_path):
    output = tmp_path / "step.json"
    result = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "step_time.py"), "--preset", "tiny-2d",
                             "--steps", "2", "--warmup", "1", "--json", str(output),
                             "--trainers", "nnUNetTrainer", "AttenScribbleTrainer_WithSimilarity"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["attention_stage"] == 2
    assert set(report["ratios"]) == {"step_time", "peak_memory", "inference"}
    assert all(v > 0 for v in report["ratios"].values())
    assert set(report["loss_terms"]) == {"crf", "similarity"}
    assert "median step" in result.stdout


@needs_acdc
@pytest.mark.integration
def test_scribble_benchmark_smoke(tmp_path):
    data = tmp_path / "data"  # --data-dir: the layout of ../shared/data anywhere (the GPU machine's copy)
    data.mkdir()
    (data / "acdc-scribble").symlink_to(ACDC)
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "scribble_benchmark.py"), "--profile", "smoke",
               "--datasets", "acdc", "--trainers", "AttenScribbleTrainer_WithSimilarity", "dense_long", "--work-dir", str(tmp_path),
               "--data-dir", str(data), "--parallel", "2"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    report = json.loads((tmp_path / "report.json").read_text())
    results = report["datasets"]["acdc"]["results"]
    assert list(results) == ["AttenScribbleTrainer_WithSimilarity", "dense_long"]  # in the order asked, though run at once
    assert all(str(link.readlink()).startswith(str(data.resolve())) for link in (tmp_path / "acdc_h5").iterdir())
    assert set(results["dense_long"][0]["per_class"]) == {"RV", "MYO", "LV"}
    assert results["dense_long"][0]["iterations"] == 3 * results["AttenScribbleTrainer_WithSimilarity"][0]["iterations"]
    assert "| attention + CRF + similarity loss (the paper's full objective) |" in result.stdout and (tmp_path / "dice.png").is_file()
    # resumable: a second run reuses every finished step
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "training" not in again.stdout


def test_benchmark_jobs_long_suffix_triples_iterations_of_any_trainer():
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    from scribble_benchmark import label, training_jobs
    jobs = training_jobs(["AttenScribbleTrainer", "AttenScribbleTrainer_long", "dense", "dense_long"], [0, 1], 400,
                         (802, "Scribbles"), (812, "Dense"))
    assert jobs[:2] == [("AttenScribbleTrainer", 802, "Scribbles", "AttenScribbleTrainer", 400, 0),
                        ("AttenScribbleTrainer", 802, "Scribbles", "AttenScribbleTrainer", 400, 1)]
    assert jobs[2] == ("AttenScribbleTrainer", 802, "Scribbles", "AttenScribbleTrainer_long", 1200, 0)
    assert jobs[4] == ("nnUNetTrainer_AttenScribbleBudget", 812, "Dense", "dense", 400, 0)
    assert jobs[6] == ("nnUNetTrainer_AttenScribbleBudget", 812, "Dense", "dense_long", 1200, 0)
    assert label("dense_long") == "nnU-Net on dense labels, 3x iterations"
    assert label("AttenScribbleTrainer_PartialCE_CRF@v0.2") == "partial CE + masked CRF [v0.2 run]"


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
