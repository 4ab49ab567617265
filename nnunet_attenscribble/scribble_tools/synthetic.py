"""A small synthetic scribble dataset (no download): a bright disk inside a dark ring on a noisy background,
like a left ventricle inside its myocardium. Dense labels are kept for evaluation; scribbles are simulated."""
from __future__ import annotations

import numpy as np

from .image_io import image_from_array
from .raw_dataset import Case, DatasetSpec
from .simulate import SimulationSettings, simulate_scribbles

CLASS_NAMES = ("background", "ring", "core")


def synthetic_volume(shape, seed: int):
    """(image, dense label) arrays in (Z, Y, X) order; the shapes vary smoothly along z."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij")
    centre_y = shape[1] * rng.uniform(0.4, 0.6) + 0.05 * shape[1] * np.sin(z / max(shape[0], 1) * np.pi)
    centre_x = shape[2] * rng.uniform(0.4, 0.6)
    outer = min(shape[1:]) * rng.uniform(0.25, 0.33) * (1.0 - 0.3 * (z / max(shape[0] - 1, 1) - 0.5) ** 2)
    inner = outer * rng.uniform(0.5, 0.7)
    distance = np.sqrt((y - centre_y) ** 2 + ((x - centre_x) * rng.uniform(0.85, 1.15)) ** 2)
    label = np.zeros(shape, dtype=np.uint8)
    label[distance < outer] = 1
    label[distance < inner] = 2
    intensity = np.choose(label, [0.45, 0.15, 0.9]) + 0.15 * np.sin(x / shape[2] * 3 + rng.uniform(0, 6))
    image = intensity + rng.normal(0.0, 0.08, size=shape)
    return (image * 1000).astype(np.float32), label


def synthetic_cases(num_train: int, num_test: int, shape, spacing, mode: str, seed: int = 0):
    """Cases for `write_raw_dataset`: simulated scribbles for training, dense labels for all."""
    cases = []
    settings = SimulationSettings(mode=mode)
    for index in range(num_train + num_test):
        image, label = synthetic_volume(shape, seed * 1000 + index)
        test = index >= num_train
        scribble = None if test else image_from_array(
            simulate_scribbles(label, len(CLASS_NAMES), seed * 1000 + index, settings), spacing)
        cases.append(Case(f"case_{index:03d}", [image_from_array(image, spacing)], scribble,
                          dense=image_from_array(label, spacing), test=test, source=f"synthetic case {index}"))
    return cases


def synthetic_spec(name: str) -> DatasetSpec:
    return DatasetSpec(name, CLASS_NAMES, ["MRI"])
