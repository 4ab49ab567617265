"""Pairing image / label files by name, and patient-wise splits.

Case names are file names without extension and without a role suffix (`_0000` channel, `_scribble`, `_gt`,
`_label`). The group of a case (the patient) is the first run of digits in its name, so the ED and ES frames
of one patient (`patient081_frame01`, `patient081_frame12`) always land on the same side of a split.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .errors import ScribbleToolError

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".tif", ".tiff", ".png", ".h5")
ROLE_SUFFIX = re.compile(r"(_\d{4}|_scribbles?|_gt|_labels?|_seg)$")
LABEL_SUFFIX = re.compile(r"(_scribbles?|_gt|_labels?|_seg)$")
CHANNEL_SUFFIX = re.compile(r"^(.+)_(\d{4})$")


def strip_extension(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def case_name(path: Path) -> str:
    return ROLE_SUFFIX.sub("", strip_extension(path))


def list_images(folder, pattern: str = "*") -> List[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ScribbleToolError(folder, "folder not found")
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))


def index_by_case(files: Iterable[Path], folder) -> Dict[str, List[Path]]:
    """case name -> files (several for multi-channel images `_0000`, `_0001`)."""
    result: Dict[str, List[Path]] = {}
    for path in files:
        result.setdefault(case_name(path), []).append(path)
    if not result:
        raise ScribbleToolError(folder, "no image files found")
    return {k: sorted(v) for k, v in result.items()}


def pair_predictions(prediction_dir, reference_dir) -> Dict[str, Tuple[Path, Path]]:
    """case name -> (reference file, prediction file) for every reference case. A reference case without a
    prediction is an error naming the prediction folder and the cases; predictions without a reference are left
    out (a folder may hold training-set predictions as well)."""
    references = index_by_case(list_images(reference_dir), reference_dir)
    predictions = index_by_case(list_images(prediction_dir), prediction_dir)
    missing = sorted(set(references) - set(predictions))
    if missing:
        raise ScribbleToolError(prediction_dir, f"no prediction for case(s) {', '.join(missing[:10])}")
    return {name: (references[name][0], predictions[name][0]) for name in sorted(references)}


def index_channels(folder) -> Dict[str, List[Path]]:
    """case name -> its channel files in channel order, for a folder of images.

    nnU-Net's naming: `<case>_0000`, `<case>_0001`, ... Once a file of the folder is named `_0000`, every file must
    carry a 4-digit channel suffix and every case the same channels 0..k-1; otherwise each file is one
    single-channel case named by the whole file name. A name ending like a label file (`_gt`, `_seg`, `_label`,
    `_scribble`) is an error: such a stray file would become an image channel."""
    files = list_images(folder)
    if not files:
        raise ScribbleToolError(folder, "no image files found")
    for path in files:
        if LABEL_SUFFIX.search(strip_extension(path)):
            raise ScribbleToolError(path, "is named like a label file, not an image (move it out of the image folder)")
    named = {path: CHANNEL_SUFFIX.match(strip_extension(path)) for path in files}
    if not any(match and match.group(2) == "0000" for match in named.values()):
        return {strip_extension(path): [path] for path in files}
    result: Dict[str, Dict[int, Path]] = {}
    for path, match in named.items():
        if match is None:
            raise ScribbleToolError(path, "has no channel suffix _0000, _0001, ... while other images of the folder do")
        result.setdefault(match.group(1), {})[int(match.group(2))] = path
    expected = sorted(next(iter(result.values())))
    for name, channels in result.items():
        if sorted(channels) != list(range(len(channels))) or len(channels) != len(expected):
            raise ScribbleToolError(folder, f"case {name} has channel(s) {sorted(channels)}; every case needs the "
                                            f"same channels 0..k-1 (first case: {expected})")
    return {name: [channels[i] for i in sorted(channels)] for name, channels in result.items()}


def pair_cases(images: Dict[str, List[Path]], labels: Dict[str, List[Path]], label_folder,
               optional: Set[str] = frozenset()) -> None:
    """Every image (except `optional` ones) needs exactly one label file, every label an image."""
    missing = sorted(set(images) - set(labels) - set(optional))
    orphans = sorted(set(labels) - set(images))
    if missing:
        raise ScribbleToolError(label_folder, f"no label file for image case(s) {', '.join(missing[:10])}")
    if orphans:
        raise ScribbleToolError(orphans and labels[orphans[0]][0], f"label file(s) without image: {', '.join(orphans[:10])}")
    for name, files in labels.items():
        if len(files) != 1:
            raise ScribbleToolError(files[0], f"{len(files)} label files for case {name}")


def group_number(name: str) -> Optional[int]:
    """The first run of digits in a case name (patient or subject number), or None."""
    match = re.search(r"\d+", name)
    return int(match.group()) if match else None


def parse_id_ranges(text: Optional[str]) -> Set[int]:
    """'81-100,5' -> {5, 81, ..., 100}."""
    ids: Set[int] = set()
    if not text:
        return ids
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"\d+-\d+", part):
            low, high = map(int, part.split("-"))
            ids.update(range(low, high + 1))
        elif part.isdigit():
            ids.add(int(part))
        else:
            raise ScribbleToolError(None, f"--test-ids: cannot read {part!r} (use e.g. 81-100,5)")
    return ids


def is_test_case(name: str, test_ids: Set[int]) -> bool:
    number = group_number(name)
    return number is not None and number in test_ids
