"""Bad input through the `attenscribble` CLI: every case ends in exit 2 with the file and the problem named, with
nothing written or lost, or in a correct result. Nothing passes silently."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_attenscribble.scribble_tools.cli import main
from nnunet_attenscribble.scribble_tools.safe_output import claimed
from test_scribble_tools import _convert_generic, _generic_layout, _write


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _error(capsys):
    return capsys.readouterr().err


def _convert_in_subprocess(root, *extra):
    """The command line of _convert_generic (without --dense), run as its own process."""
    return [sys.executable, "-m", "nnunet_attenscribble.scribble_tools.cli", "convert", "generic", "--images",
            str(root / "images"), "--scribbles", str(root / "scribbles"), "--unannotated-value", "0", "--class-map",
            "1:0,2:1,3:2", "--class-names", "background", "ring", "core", "--dataset", "Dataset900_T", "--raw-dir",
            str(root / "raw"), *extra]


def _nothing_written(root, name="Dataset900_T"):
    raw = root / "raw"
    return not raw.exists() or not [p for p in raw.iterdir() if p.name.lstrip(".").startswith(name)]


# 1. truncated files: SimpleITK zero-fills a truncated NIfTI
@pytest.mark.parametrize("role", ["images", "scribbles"])
def test_half_truncated_nifti_in_convert_is_an_error(tmp_path, capsys, role):
    root = _generic_layout(tmp_path)
    name = "case01_0000.nii.gz" if role == "images" else "case01.nii.gz"
    _truncate(root / role / name)
    assert _convert_generic(root) == 2
    error = _error(capsys)
    assert f"{role}/{name}: is truncated or damaged" in error and _nothing_written(root)


def test_truncated_uncompressed_nifti_and_prediction_in_evaluate(tmp_path, capsys):
    label = np.zeros((4, 32, 32), np.uint8)
    label[1:3, 8:24, 8:24] = 1
    _write(label, tmp_path / "ref" / "c.nii")
    _write(label, tmp_path / "pred" / "c.nii")
    _truncate(tmp_path / "pred" / "c.nii")
    code = main(["evaluate", "--predictions", str(tmp_path / "pred"), "--references", str(tmp_path / "ref"),
                 "--output", str(tmp_path / "out")])
    assert code == 2 and "pred/c.nii: is truncated or damaged" in _error(capsys)
    assert not (tmp_path / "out").exists()


# 2. two converts into the same dataset at once
def test_concurrent_converts_into_one_dataset_do_not_both_succeed(tmp_path):
    root = _generic_layout(tmp_path, cases=12)
    command = _convert_in_subprocess(root)
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(error for code, error in results if code == 2)
    # the loser saw the winner's lock, its finished dataset, or the dataset appearing just before its own rename
    assert any(message in loser for message in ("is being written by process", "already exists",
                                                "appeared while this run wrote it")), loser
    assert sorted(p.name for p in (root / "raw").iterdir()) == ["Dataset900_T"]


def test_a_lock_never_appears_without_its_holder(tmp_path):
    """A run that finds the lock reads who holds it; a lock seen empty (created, holder not yet written) reads as an
    interrupted run's and would be taken over, and two runs would write one destination."""
    destination, lock = tmp_path / "out", tmp_path / ".out.lock"
    seen_empty, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            try:
                if lock.read_text() == "":
                    seen_empty.append(True)
            except FileNotFoundError:
                pass

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # let the watcher run between any two steps of the claim
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(2000):
            with claimed(destination):
                pass
    finally:
        stop.set()
        watcher.join()
        sys.setswitchinterval(switch_interval)
    assert not seen_empty, f"the lock was seen empty {len(seen_empty)} times"


def test_live_lock_stops_a_run_and_a_dead_one_is_taken_over(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    (root / "raw").mkdir()
    lock = root / "raw" / ".Dataset900_T.lock"
    lock.write_text(f"{os.getpid()} {os.uname().nodename}")
    assert _convert_generic(root) == 2
    assert f"is being written by process {os.getpid()}" in _error(capsys) and lock.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid} {os.uname().nodename}")
    (root / "raw" / ".Dataset900_T.partial-abc").mkdir()  # what a SIGKILLed run leaves
    assert _convert_generic(root) == 0
    output = capsys.readouterr().out
    assert "removing the lock of an interrupted run" in output and "removing the unfinished output" in output
    assert sorted(p.name for p in (root / "raw").iterdir()) == ["Dataset900_T"]


def test_sigterm_during_convert_leaves_nothing(tmp_path):
    root = _generic_layout(tmp_path, cases=2)
    image = sitk.ReadImage(str(root / "images" / "case00_0000.nii.gz"))
    big = sitk.GetArrayFromImage(image)
    for index in range(2, 40):  # enough cases that the writing lasts a while
        _write(np.tile(big, (6, 2, 2)), root / "images" / f"case{index:02d}_0000.nii.gz")
    command = _convert_in_subprocess(root, "--test-ids", "2-39")
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((root / "raw").glob(".Dataset900_T.partial-*/imagesTs/*")) and time.time() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGTERM)
    assert run.wait() == 128 + signal.SIGTERM
    assert list((root / "raw").iterdir()) == []


def test_command_runs_from_a_thread(tmp_path):
    """Python callers (the benchmark's thread pool) run the command outside the main thread, where no signal handler
    can be installed."""
    from concurrent.futures import ThreadPoolExecutor
    root = _generic_layout(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(_convert_generic, root).result() == 0
    assert (root / "raw" / "Dataset900_T" / "dataset.json").is_file()


def test_interrupted_overwrite_is_restored_not_lost(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    assert _convert_generic(root) == 0
    dataset = root / "raw" / "Dataset900_T"
    before = {p.relative_to(dataset): p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    dataset.rename(root / "raw" / ".Dataset900_T.replaced-12345")  # killed between the two renames of --overwrite
    assert _convert_generic(root) == 2  # the next run puts the old dataset back, then refuses to replace it
    assert "restoring" in capsys.readouterr().out
    assert {p.relative_to(dataset): p.read_bytes() for p in dataset.rglob("*") if p.is_file()} == before


# 3. names
@pytest.mark.parametrize("names,message", [
    (["bg", "ring", "core"], "must be 'background'"),
    (["background", "ring", "ring"], "duplicate name(s) ['ring']"),
    (["background", "ring", "ignore"], "'ignore' is the label this tool adds"),
    (["background", "ring"], "--class-map: class(es) [2] beyond the 2 --class-names"),
    (["background", "ring", "core", "extra"], "no painted value for class(es) 3 (extra)"),
])
def test_class_names_are_validated_before_anything_is_read(tmp_path, capsys, names, message):
    root = _generic_layout(tmp_path)
    arguments = ["convert", "generic", "--images", str(root / "images"), "--scribbles", str(root / "scribbles"),
                 "--unannotated-value", "0", "--class-map", "1:0,2:1,3:2", "--class-names", *names,
                 "--dataset", "Dataset900_T", "--raw-dir", str(root / "raw")]
    assert main(arguments) == 2 and message in _error(capsys) and _nothing_written(root)


# 4. channels
def test_stray_label_file_among_images_is_not_a_channel(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    (root / "images" / "case01_gt.nii.gz").write_bytes((root / "dense" / "case01.nii.gz").read_bytes())
    assert _convert_generic(root) == 2
    assert "case01_gt.nii.gz: is named like a label file" in _error(capsys) and _nothing_written(root)


def test_two_channels_need_names_and_get_them(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    for index in range(3):
        source = root / "images" / f"case{index:02d}_0000.nii.gz"
        (root / "images" / f"case{index:02d}_0001.nii.gz").write_bytes(source.read_bytes())
    assert _convert_generic(root) == 2
    assert "has 2 channel(s), the dataset 1 (MRI); name every channel with --channel-names" in _error(capsys)
    assert _convert_generic(root, "--channel-names", "T1", "T2") == 0
    spec = json.loads((root / "raw" / "Dataset900_T" / "dataset.json").read_text())
    assert spec["channel_names"] == {"0": "T1", "1": "T2"}
    assert len(list((root / "raw" / "Dataset900_T" / "imagesTr").iterdir())) == 6


def test_cases_with_different_channels_are_an_error(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    (root / "images" / "case01_0001.nii.gz").write_bytes((root / "images" / "case01_0000.nii.gz").read_bytes())
    assert _convert_generic(root, "--channel-names", "T1", "T2") == 2
    assert "every case needs the same channels" in _error(capsys) and _nothing_written(root)


# 5. evaluate: the class set, unknown labels, the ignore label, strict JSON
def _label_maps(folder, maps, dataset_json=None):
    for name, array in maps.items():
        _write(np.asarray(array), folder / f"{name}.nii.gz")
    if dataset_json:
        (folder / "dataset.json").write_text(json.dumps({"labels": dataset_json}))
    return folder


def _square(value, shape=(2, 16, 16), size=6, dtype=np.uint8):
    array = np.zeros(shape, dtype)
    array[:, 2:2 + size, 2:2 + size] = value
    return array


def test_evaluate_without_foreground_is_an_error_and_writes_nothing(tmp_path, capsys):
    references = _label_maps(tmp_path / "ref", {"a": np.zeros((2, 8, 8), np.uint8)})
    predictions = _label_maps(tmp_path / "pred", {"a": np.zeros((2, 8, 8), np.uint8)})
    code = main(["evaluate", "--predictions", str(predictions), "--references", str(references),
                 "--output", str(tmp_path / "out")])
    assert code == 2 and "hold no foreground class" in _error(capsys) and not (tmp_path / "out").exists()


def test_evaluate_takes_the_classes_of_all_references(tmp_path, capsys):
    references = _label_maps(tmp_path / "ref", {"a": _square(1), "b": _square(2)})
    predictions = _label_maps(tmp_path / "pred", {"a": _square(1), "b": _square(2)})
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(references),
                 "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["per_class"]["class 1"]["dice"] == summary["per_class"]["class 2"]["dice"] == 1.0


def test_evaluate_against_scribbles_and_unknown_labels_are_errors(tmp_path, capsys):
    labels = {"background": 0, "ring": 1, "ignore": 2}
    scribble = _square(1)
    scribble[0, 0, 0] = 2
    references = _label_maps(tmp_path / "ref", {"a": scribble})
    predictions = _label_maps(tmp_path / "pred", {"a": _square(1)}, labels)  # nnU-Net's dataset.json beside
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(references)]) == 2
    assert "ref/a.nii.gz: holds the ignore label (2)" in _error(capsys)
    _label_maps(references, {"a": _square(1)})
    _label_maps(predictions, {"a": _square(3)})
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(references)]) == 2
    assert "pred/a.nii.gz: label value(s) [3] are not classes of" in _error(capsys)


def test_evaluate_float_predictions_and_strict_json(tmp_path, capsys):
    references = _label_maps(tmp_path / "ref", {"a": _square(1)})
    predictions = _label_maps(tmp_path / "pred", {"a": _square(1, dtype=np.float32)})
    dataset_json = tmp_path / "dataset.json"
    dataset_json.write_text(json.dumps({"labels": {"background": 0, "ring": 1, "core": 2}}))
    command = ["evaluate", "--predictions", str(predictions), "--references", str(references), "--dataset-json",
               str(dataset_json), "--output", str(tmp_path / "out")]
    assert main(command) == 0
    text = (tmp_path / "out" / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in summary.json"))
    assert summary["per_class"]["ring"]["dice"] == 1.0 and summary["per_class"]["core"]["dice"] is None
    _label_maps(predictions, {"a": _square(0.6, dtype=np.float32)})
    assert main(command) == 2 and "non-integer values (e.g. 0.6)" in _error(capsys)


def test_evaluate_output_may_not_be_an_input(tmp_path, capsys):
    references = _label_maps(tmp_path / "ref", {"a": _square(1)})
    predictions = _label_maps(tmp_path / "pred", {"a": _square(1)})
    assert main(["evaluate", "--predictions", str(predictions), "--references", str(references), "--output",
                 str(predictions)]) == 2
    assert "output is the input folder" in _error(capsys)
    assert sorted(p.name for p in predictions.iterdir()) == ["a.nii.gz"]


# 6. postprocess into its own input
@pytest.mark.parametrize("output", [".", "pp", ".."])
def test_postprocess_never_writes_into_or_over_its_input(tmp_path, capsys, output):
    predictions = _label_maps(tmp_path / "pred", {"a": _square(1)})
    for name in ("dataset.json", "plans.json", "predict_from_raw_data_args.json"):
        (predictions / name).write_text("{}")
    before = sorted(p.name for p in predictions.iterdir())
    code = main(["postprocess", "--predictions", str(predictions), "--output", str(predictions / output),
                 "--overwrite"])
    assert code == 2 and "input folder" in _error(capsys)
    assert sorted(p.name for p in predictions.iterdir()) == before


# lesser cases
def test_fractional_scribble_value_is_an_error(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    scribble = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "scribbles" / "case01.nii.gz"))).astype(np.float32)
    scribble[scribble == 3] = 2.4
    _write(scribble, root / "scribbles" / "case01.nii.gz")
    assert _convert_generic(root) == 2
    assert "case01.nii.gz: is a label map with non-integer values (e.g. 2.4)" in _error(capsys)


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha"])
def test_nan_in_an_image_is_an_error(tmp_path, capsys, suffix):
    root = _generic_layout(tmp_path)
    path = root / "images" / "case01_0000.nii.gz"
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32)
    image[1, 5, 5] = np.nan
    path.unlink()
    _write(image, path.with_name("case01_0000" + suffix))
    assert _convert_generic(root) == 2
    assert f"case01_0000{suffix}: holds 1 NaN or infinite voxel(s)" in _error(capsys) and _nothing_written(root)


def test_overlay_checks_that_the_prediction_lies_on_the_image(tmp_path, capsys):
    _write(np.random.rand(2, 16, 16).astype(np.float32), tmp_path / "img" / "a_0000.nii.gz")
    _label_maps(tmp_path / "pred", {"a": _square(1, shape=(2, 16, 12))})
    code = main(["overlay", "--images", str(tmp_path / "img"), "--predictions", str(tmp_path / "pred"),
                 "--output", str(tmp_path / "png")])
    assert code == 2 and "pred/a.nii.gz: shape (12, 16, 2) differs from its image" in _error(capsys)


def test_dataset_id_used_by_another_dataset_is_an_error(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    (root / "raw" / "Dataset900_Other").mkdir(parents=True)
    assert _convert_generic(root) == 2
    assert "dataset ID 900 is already used by Dataset900_Other" in _error(capsys)
    assert sorted(p.name for p in (root / "raw").iterdir()) == ["Dataset900_Other"]


def test_convert_output_inside_an_input_folder_is_an_error(tmp_path, capsys):
    root = _generic_layout(tmp_path)
    code = main(["convert", "generic", "--images", str(root / "images"), "--scribbles", str(root / "scribbles"),
                 "--unannotated-value", "0", "--class-map", "1:0,2:1,3:2", "--class-names", "background", "ring",
                 "core", "--dataset", "Dataset900_T", "--raw-dir", str(root / "images")])
    assert code == 2 and "lies inside the input folder" in _error(capsys)
    assert not (root / "images" / "Dataset900_T").exists()


def test_simulate_on_a_non_integer_label_names_the_problem(tmp_path, capsys):
    image = np.random.rand(4, 16, 16).astype(np.float32)
    label = _square(1, shape=(4, 16, 16)).astype(np.float32) * 0.5
    _write(image, tmp_path / "images" / "s001.nii.gz")
    _write(label, tmp_path / "labels" / "s001.nii.gz")
    code = main(["simulate", "--images", str(tmp_path / "images"), "--labels", str(tmp_path / "labels"),
                 "--class-names", "background", "ring", "--dataset", "Dataset903_S", "--raw-dir",
                 str(tmp_path / "raw")])
    assert code == 2 and "labels/s001.nii.gz: is a label map with non-integer values (e.g. 0.5)" in _error(capsys)
