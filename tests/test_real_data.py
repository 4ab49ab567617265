"""The scribble tools on the real shared data (skipped with a message where ../shared/data is absent)."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_attenscribble.scribble_tools.cli import main

from nnunet_env import nnunet_environment, run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ACDC = SHARED / "acdc-scribble"
HIPPOCAMPUS = SHARED / "hippocampus-msd"
PATIENTS = ("patient021_frame01", "patient021_frame13", "patient081_frame01")

needs_acdc = pytest.mark.skipif(not ACDC.is_dir(), reason=f"real ACDC scribble data not found at {ACDC}")
needs_hippocampus = pytest.mark.skipif(not HIPPOCAMPUS.is_dir(), reason=f"hippocampus data not found at {HIPPOCAMPUS}")


def _arrays(folder):
    return {p.name: (sitk.GetArrayFromImage(sitk.ReadImage(str(p))), sitk.ReadImage(str(p)).GetSpacing())
            for p in sorted(Path(folder).glob("*.nii.gz"))}


@pytest.fixture(scope="module")
def acdc_sources(tmp_path_factory):
    """A few real volumes as WSL4MIS h5, as generic NIfTI files and as the ACDC download layout."""
    root = tmp_path_factory.mktemp("acdc")
    for name in PATIENTS:
        (root / "h5").mkdir(exist_ok=True)
        (root / "h5" / f"{name}.h5").symlink_to(ACDC / "volumes" / f"{name}.h5")
        (root / "reference").mkdir(exist_ok=True)
        scribble_file = ACDC / "scribbles-nifti" / f"{name}_scribble.nii.gz"
        (root / "reference" / scribble_file.name).symlink_to(scribble_file)
        geometry = sitk.ReadImage(str(scribble_file))
        with h5py.File(ACDC / "volumes" / f"{name}.h5") as handle:
            image, label = handle["image"][()], handle["label"][()]
        patient = name.split("_")[0]
        for array, path in ((image, root / "generic_images" / f"{name}_0000.nii.gz"),
                            (label, root / "generic_dense" / f"{name}.nii.gz"),
                            (image, root / "acdc" / patient / f"{name}.nii.gz"),
                            (label, root / "acdc" / patient / f"{name}_gt.nii.gz")):
            written = sitk.GetImageFromArray(array)
            written.CopyInformation(geometry)
            path.parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(written, str(path))
    return root


@needs_acdc
def test_wsl4mis_generic_and_acdc_layouts_agree(acdc_sources):
    root = acdc_sources
    common = ["--test-ids", "81-100", "--raw-dir", str(root / "raw")]
    assert main(["convert", "wsl4mis", "--h5-dir", str(root / "h5"), "--reference-dir", str(root / "reference"),
                 "--dataset", "Dataset801_W", *common]) == 0
    assert main(["convert", "generic", "--images", str(root / "generic_images"), "--scribbles",
                 str(root / "reference"), "--dense", str(root / "generic_dense"), "--unannotated-value", "4",
                 "--class-names", "background", "RV", "MYO", "LV", "--dataset", "Dataset802_G", *common]) == 0
    assert main(["convert", "acdc", "--acdc-dir", str(root / "acdc"), "--scribble-dir", str(root / "reference"),
                 "--dataset", "Dataset803_A", *common]) == 0
    for folder in ("imagesTr", "labelsTr", "imagesTs", "denseLabelsTr", "denseLabelsTs"):
        wsl4mis = _arrays(root / "raw" / "Dataset801_W" / folder)
        assert wsl4mis, folder
        for other in ("Dataset802_G", "Dataset803_A"):
            converted = _arrays(root / "raw" / other / folder)
            assert converted.keys() == wsl4mis.keys()
            for name, (array, spacing) in wsl4mis.items():
                np.testing.assert_array_equal(converted[name][0], array)
                assert np.allclose(converted[name][1], spacing)
    labels = _arrays(root / "raw" / "Dataset801_W" / "labelsTr")
    spacing = labels["patient021_frame01.nii.gz"][1]
    assert spacing[2] > 4.0 and 1.0 < spacing[0] < 2.0  # real slice thickness from the scribble release
    scribble = labels["patient021_frame01.nii.gz"][0]
    assert set(np.unique(scribble)) == {0, 1, 2, 3, 4} and (scribble != 4).mean() < 0.05


@needs_hippocampus
def test_hippocampus_simulate_gives_dataset_nnunet_accepts(tmp_path, capsys):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir(), labels.mkdir()
    chosen = sorted(p.name for p in (HIPPOCAMPUS / "images").glob("*.nii.gz"))[:6]
    for name in chosen:
        (images / name).symlink_to(HIPPOCAMPUS / "images" / name)
        (labels / name).symlink_to(HIPPOCAMPUS / "labels" / name)
    args = ["simulate", "--images", str(images), "--labels", str(labels), "--seed", "3", "--class-names",
            "background", "anterior", "posterior", "--raw-dir", str(tmp_path / "raw")]
    assert main(args + ["--dataset", "Dataset810_Hippo"]) == 0
    out = capsys.readouterr().out
    assert "class 1:" in out and "class 2:" in out
    assert main(args + ["--dataset", "Dataset811_Hippo"]) == 0
    first = _arrays(tmp_path / "raw" / "Dataset810_Hippo" / "labelsTr")
    second = _arrays(tmp_path / "raw" / "Dataset811_Hippo" / "labelsTr")
    for name in first:  # seeded: identical scribbles
        np.testing.assert_array_equal(first[name][0], second[name][0])
    env = nnunet_environment(tmp_path)
    result = run(["nnUNetv2_plan_and_preprocess", "-d", "810", "-c", "3d_fullres", "-np", "1",
                  "--verify_dataset_integrity"], env)
    assert (tmp_path / "preprocessed" / "Dataset810_Hippo" / "nnUNetPlans_3d_fullres").is_dir(), result.stdout
