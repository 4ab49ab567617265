#!/usr/bin/env bash
# One-time set-up on a fresh machine with Python >= 3.10: .venv with torch, nnU-Net 2.8.1 and this package.
# Idempotent: re-runs only when pyproject.toml changed. PYTHON=python3.12 picks another interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stamp=.venv/.attenscribble-installed
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing torch, nnU-Net and nnunet-attenscribble into .venv (first time: a few minutes)"
    # nnU-Net pulls timm -> torchvision: pin a matching pair, or pip swaps torch for another build
    .venv/bin/pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test]"
    touch "$stamp"
fi
