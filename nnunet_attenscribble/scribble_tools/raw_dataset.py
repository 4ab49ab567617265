"""Writes nnU-Net raw datasets whose labels are scribbles, with an `ignore` label and optional dense labels.

Layout: nnUNet_raw/DatasetXXX_Name/{imagesTr,labelsTr,imagesTs} as nnU-Net expects, plus denseLabelsTr/ and
denseLabelsTs/ (dense ground truth for `attenscribble evaluate`; nnU-Net never reads them).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from .errors import ScribbleToolError
from .image_io import write_image
from .safe_output import atomic_output_folder

DATASET_NAME = re.compile(r"^Dataset\d{3}_[A-Za-z0-9_\-]+$")


@dataclass
class Case:
    """One case: image channels, scribble map (class values, ignore elsewhere), optional dense label."""
    identifier: str
    channels: List[sitk.Image]
    scribble: Optional[sitk.Image]
    dense: Optional[sitk.Image] = None
    test: bool = False
    source: str = ""


def check_names(names: Sequence[str], option: str) -> None:
    """Names a user gives must be non-empty and unique."""
    blank = [n for n in names if not n.strip()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if blank or duplicates:
        raise ScribbleToolError(None, f"{option}: " + ("empty name" if blank else f"duplicate name(s) {duplicates}"))


@dataclass
class DatasetSpec:
    """Name, classes and channels of a dataset, validated on creation as nnU-Net will need them."""
    name: str                                 # DatasetXXX_Name
    class_names: Sequence[str]                # index = label value, 0 = background
    channel_names: Sequence[str] = field(default_factory=lambda: ["MRI"])
    file_ending: str = ".nii.gz"

    def __post_init__(self):
        if not DATASET_NAME.match(self.name):
            raise ScribbleToolError(self.name, "dataset name must look like Dataset123_Name")
        check_names(list(self.class_names), "--class-names")
        check_names(list(self.channel_names), "--channel-names")
        if not self.class_names or self.class_names[0] != "background":
            raise ScribbleToolError(None, "--class-names: the first name is label 0 and must be 'background' "
                                          f"(nnU-Net's rule), got {list(self.class_names)[:1]}")
        if len(self.class_names) < 2:
            raise ScribbleToolError(None, "--class-names: name at least one class besides background")
        if "ignore" in self.class_names:
            raise ScribbleToolError(None, "--class-names: 'ignore' is the label this tool adds for unannotated "
                                          "voxels; name the class otherwise")

    @property
    def dataset_id(self) -> int:
        return int(self.name[len("Dataset"):len("Dataset") + 3])

    @property
    def ignore_value(self) -> int:
        return len(self.class_names)

    def dataset_json(self, num_training: int) -> Dict:
        labels = {name: value for value, name in enumerate(self.class_names)}
        labels["ignore"] = self.ignore_value
        return {"channel_names": {str(i): n for i, n in enumerate(self.channel_names)}, "labels": labels,
                "numTraining": num_training, "file_ending": self.file_ending}


def validate_scribble(case: Case, ignore_value: int) -> None:
    """A training scribble map must annotate something and use only class values and the ignore value."""
    array = sitk.GetArrayViewFromImage(case.scribble)
    values = np.unique(array)
    bad = [int(v) for v in values if v < 0 or v > ignore_value]
    if bad:
        raise ScribbleToolError(case.source or case.identifier,
                                f"scribble values {bad} outside 0..{ignore_value} (classes and ignore)")
    if np.all(array == ignore_value):
        raise ScribbleToolError(case.source or case.identifier, "scribble map has no annotated voxel")


def check_dataset_id_free(spec: DatasetSpec, raw_folder: Path) -> None:
    """nnU-Net finds a dataset by its ID: no other dataset name in nnUNet_raw may use it."""
    others = sorted(p.name for p in Path(raw_folder).glob(f"Dataset{spec.dataset_id:03d}_*")
                    if p.is_dir() and p.name != spec.name)
    if others:
        raise ScribbleToolError(Path(raw_folder) / spec.name, f"dataset ID {spec.dataset_id:03d} is already used by "
                                                              f"{', '.join(others)}; choose another ID")


def check_channels(cases: Sequence[Case], spec: DatasetSpec) -> None:
    """Every case has one image per named channel."""
    for case in cases:
        if len(case.channels) != len(spec.channel_names):
            raise ScribbleToolError(case.source or case.identifier,
                                    f"case {case.identifier} has {len(case.channels)} channel(s), the dataset "
                                    f"{len(spec.channel_names)} ({', '.join(spec.channel_names)}); name every channel with "
                                    "--channel-names")


def write_raw_dataset(cases: Sequence[Case], spec: DatasetSpec, raw_folder, overwrite: bool = False,
                      inputs: Sequence = ()) -> Path:
    """Write all cases into raw_folder/spec.name atomically (never into one of the `inputs` folders); returns the
    dataset folder."""
    check_dataset_id_free(spec, raw_folder)
    check_channels(cases, spec)
    identifiers = [c.identifier for c in cases]
    if len(set(identifiers)) != len(identifiers):
        raise ScribbleToolError(spec.name, "duplicate case identifiers")
    training = [c for c in cases if not c.test]
    if not training:
        raise ScribbleToolError(spec.name, "no training case")
    for case in training:
        validate_scribble(case, spec.ignore_value)
    destination = Path(raw_folder) / spec.name
    with atomic_output_folder(destination, overwrite, inputs) as folder:
        for case in tqdm(cases, desc=f"writing {spec.name}", unit="case"):
            images = "imagesTs" if case.test else "imagesTr"
            for index, channel in enumerate(case.channels):
                write_image(channel, folder / images / f"{case.identifier}_{index:04d}{spec.file_ending}")
            if not case.test:
                write_image(sitk.Cast(case.scribble, sitk.sitkUInt8), folder / "labelsTr" / f"{case.identifier}{spec.file_ending}")
            if case.dense is not None:
                dense = "denseLabelsTs" if case.test else "denseLabelsTr"
                write_image(sitk.Cast(case.dense, sitk.sitkUInt8), folder / dense / f"{case.identifier}{spec.file_ending}")
        (folder / "dataset.json").write_text(json.dumps(spec.dataset_json(len(training)), indent=2))
    return destination
