"""Environment and helpers for running the real nnU-Net executables in subprocesses, small and on the CPU."""
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def nnunet_environment(root: Path, **extra) -> dict:
    """A clean environment: nnU-Net folders under root, CPU-friendly settings, no nnUNet_extTrainer set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("nnUNet", "ATTENSCRIBBLE", "NNUNET_ATTEN"))}
    env.update(nnUNet_raw=str(root / "raw"), nnUNet_preprocessed=str(root / "preprocessed"),
               nnUNet_results=str(root / "results"), nnUNet_def_n_proc="1", nnUNet_compile="false",
               OMP_NUM_THREADS="2", PYTHONWARNINGS="ignore")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(command, env, cwd=None, check=True):
    """Run an executable from this interpreter's bin folder; on failure show its output."""
    command = [str(BIN / command[0]) if (BIN / command[0]).exists() else command[0], *map(str, command[1:])]
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-4000:]}")
    return result


TINY_BUDGET = dict(ATTENSCRIBBLE_EPOCHS=2, ATTENSCRIBBLE_ITERATIONS_PER_EPOCH=3, ATTENSCRIBBLE_VAL_ITERATIONS=1,
                   nnUNet_n_proc_DA=0)
