"""The README's first command, at a tiny budget: the whole workflow through nnU-Net's executables."""
import json
import os
import subprocess
import sys

import pytest

from nnunet_env import nnunet_environment


@pytest.mark.integration
def test_demo_end_to_end(tmp_path):
    output = tmp_path / "demo"
    env = nnunet_environment(tmp_path, nnUNet_n_proc_DA=0)
    command = [os.path.join(os.path.dirname(sys.executable), "attenscribble"), "demo", "--output", str(output),
               "--epochs", "1", "--iterations", "3"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((output / "evaluation" / "summary.json").read_text())
    assert summary["cases"] == 4 and set(summary["per_class"]) == {"ring", "core"}
    assert len(list((output / "overlays").glob("*.png"))) == 4
    assert "[demo] done" in result.stdout
    assert "[demo]   epoch 1/1, train loss" in result.stdout and "s left" in result.stdout  # progress while training
    assert "[demo]   predicted case" in result.stdout and "(4/4)" in result.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr
