#!/usr/bin/env bash
# Fills .device/run1 and .device/run2 (git-ignored) for gpu_profile.sh: nnU-Net's wheels for the GPU machine's
# Python 3.12 (fetch_wheels.sh of ../shared/tools/device), SimpleITK's wheel, the ACDC h5 volumes packed in two
# archives (patients <= 086 / > 086) so that each run stays under 64 MiB, and the reference NIfTIs (geometry).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
ACDC=${ACDC:-../shared/data/acdc-scribble}
grep -qx '/.device/' .git/info/exclude || echo '/.device/' >> .git/info/exclude
rm -rf .device && mkdir -p .device/run1 .device/run2
bash ../shared/tools/device/fetch_wheels.sh .device/run1
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .device/run2 SimpleITK==2.5.7
split() { ls "$ACDC"/volumes/*.h5 | awk -F'patient' -v side="$1" '{n = substr($2, 1, 3) + 0; if ((n <= 86) == side) print}'; }
"$PY" benchmarks/device/acdc_pack.py pack .device/run1/acdc_a.pkl.xz $(split 1) &
"$PY" benchmarks/device/acdc_pack.py pack .device/run2/acdc_b.pkl.xz $(split 0)
wait
cp -r "$ACDC/scribbles-nifti" .device/run2/
du -sh .device/run1 .device/run2   # each with the tracked files must stay under 64 MiB
