"""The built wheel, not the editable install: installed into a fresh virtual environment beside nnU-Net, its start-up
hook lets `nnUNetv2_train -tr AttenScribbleTrainer` find the trainer, and `attenscribble --version` answers."""
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from nnunet_attenscribble import __version__
from nnunet_attenscribble.scribble_tools.raw_dataset import write_raw_dataset
from nnunet_attenscribble.scribble_tools.synthetic import synthetic_cases, synthetic_spec

from nnunet_env import TINY_BUDGET, nnunet_environment, run

REPOSITORY = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def _check(command, **kwargs):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def fresh_environment(tmp_path_factory):
    """(python of a new venv holding only the built wheel + a path to this environment's dependencies, wheel)."""
    root = tmp_path_factory.mktemp("wheel")
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", root / "dist", REPOSITORY])
    wheel = next((root / "dist").glob("nnunet_attenscribble-*.whl"))
    _check([sys.executable, "-m", "venv", root / "venv"])
    python = root / "venv" / "bin" / "python"
    _check([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel])
    # torch, nnU-Net and the rest from this environment; a path entry, so none of its .pth files (among them the
    # editable install of this checkout) is processed: the package can only come from the wheel
    fresh_site = Path(_check([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (fresh_site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, wheel


def test_wheel_holds_the_startup_hook_and_the_scanned_folder(fresh_environment):
    _, wheel = fresh_environment
    names = zipfile.ZipFile(wheel).namelist()
    assert "nnunet_attenscribble_ext.pth" in names
    assert "nnunet_attenscribble/nnunet_ext/attenscribble_trainer_classes.py" in names
    assert wheel.name.startswith(f"nnunet_attenscribble-{__version__}-")


def test_installed_wheel_trains_through_nnunet_and_reports_its_version(fresh_environment, tmp_path):
    python, _ = fresh_environment
    env = nnunet_environment(tmp_path, **{**TINY_BUDGET, "ATTENSCRIBBLE_EPOCHS": 1})  # no nnUNet_extTrainer set
    located = _check([python, "-c", "import nnunet_attenscribble, os; print(nnunet_attenscribble.__file__); "
                                     "print(os.environ.get('nnUNet_extTrainer'))"], env=env).stdout.split()
    assert located[0].startswith(str(python.parents[1])) and located[1].startswith(str(python.parents[1]))
    version = _check([python.parent / "attenscribble", "--version"], env=env)
    assert version.stdout.strip() == f"attenscribble {__version__}"
    write_raw_dataset(synthetic_cases(6, 1, (4, 32, 32), (5.0, 1.0, 1.0), "2d"), synthetic_spec("Dataset993_Wheel"),
                      tmp_path / "raw")
    run(["nnUNetv2_plan_and_preprocess", "-d", 993, "-c", "2d", "-np", "1"], nnunet_environment(tmp_path))
    train = ("import sys\nfrom nnunetv2.run.run_training import run_training_entry\n"
             "sys.argv = ['nnUNetv2_train', '993', '2d', '0', '-tr', 'AttenScribbleTrainer', '-device', 'cpu']\n"
             "run_training_entry()\n")
    _check([python, "-c", train], env=env)
    fold = tmp_path / "results" / "Dataset993_Wheel" / "AttenScribbleTrainer__nnUNetPlans__2d" / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    assert "attention after encoder stage" in next(fold.glob("training_log_*.txt")).read_text()
