"""Lossless packing of WSL4MIS ACDC h5 volumes into one xz pickle, so they fit what a GPU-machine run receives.

    python benchmarks/device/acdc_pack.py pack OUT.pkl.xz H5FILE...      # here: ~0.3 MiB a volume (93 MB -> 51)
    python benchmarks/device/acdc_pack.py unpack OUT.pkl.xz FOLDER       # there: the same h5 files again

An image is stored as (unique float32 values, uint16 indices into them), scribble and label as uint8; unpack
writes h5 files with the same keys and bit-identical arrays.
"""
from __future__ import annotations

import argparse
import lzma
import pickle
from pathlib import Path

import h5py
import numpy as np

KEYS = ("image", "scribble", "label")


def pack(output: Path, h5_files) -> None:
    cases = {}
    for path in map(Path, h5_files):
        with h5py.File(path, "r") as handle:
            image = handle["image"][()]
            values, indices = np.unique(image, return_inverse=True)
            if len(values) > np.iinfo(np.uint16).max:
                raise ValueError(f"{path}: {len(values)} distinct intensities do not fit uint16 indices")
            cases[path.name] = (values.astype(image.dtype), indices.reshape(image.shape).astype(np.uint16),
                                handle["scribble"][()].astype(np.uint8), handle["label"][()].astype(np.uint8))
    partial = output.with_name(output.name + ".partial")
    with lzma.open(partial, "wb", preset=9) as handle:
        pickle.dump(cases, handle)
    partial.rename(output)
    print(f"{output}: {len(cases)} volumes, {output.stat().st_size / 2**20:.1f} MiB")


def unpack(archive: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with lzma.open(archive, "rb") as handle:
        cases = pickle.load(handle)
    for name, (values, indices, scribble, label) in cases.items():
        with h5py.File(folder / name, "w") as out:
            for key, array in zip(KEYS, (values[indices], scribble, label)):
                out.create_dataset(key, data=array)
    print(f"{folder}: {len(cases)} volumes")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("archive", type=Path)
    parser.add_argument("paths", nargs="+", type=Path, help="pack: h5 files; unpack: one output folder")
    args = parser.parse_args(argv)
    if args.action == "pack":
        pack(args.archive, args.paths)
    else:
        unpack(args.archive, args.paths[0])


if __name__ == "__main__":
    main()
