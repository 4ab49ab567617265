"""Mapping the values painted in a scribble tool onto nnU-Net classes and the ignore value."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .errors import ScribbleToolError


def parse_class_map(text: Optional[str]) -> Optional[Dict[int, int]]:
    """'1:0,2:1,3:2' -> {1: 0, 2: 1, 3: 2} (painted value -> class index, class 0 = background)."""
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        try:
            source, target = (int(x) for x in part.split(":"))
        except ValueError:
            raise ScribbleToolError(None, f"--class-map: cannot read {part!r} (use painted:class, e.g. 1:0,2:1)")
        mapping[source] = target
    return mapping


def check_class_map_covers(class_map: Optional[Dict[int, int]], class_names) -> None:
    """A --class-map must give every named class a painted value and point at no class beyond the names."""
    if class_map is None:
        return
    beyond = sorted(t for t in set(class_map.values()) if not 0 <= t < len(class_names))
    if beyond:
        raise ScribbleToolError(None, f"--class-map: class(es) {beyond} beyond the {len(class_names)} "
                                      f"--class-names ({', '.join(class_names)})")
    unpainted = [f"{v} ({n})" for v, n in enumerate(class_names) if v not in class_map.values()]
    if unpainted:
        raise ScribbleToolError(None, f"--class-map: no painted value for class(es) {', '.join(unpainted)}")


def map_scribble_values(array: np.ndarray, unannotated_value: int, class_map: Optional[Dict[int, int]],
                        num_classes: int, path) -> np.ndarray:
    """Painted values -> class indices, unannotated -> num_classes (the ignore value); errors name the file."""
    if class_map is None:
        class_map = {v: v for v in range(num_classes) if v != unannotated_value}
    if unannotated_value in class_map:
        raise ScribbleToolError(path, f"unannotated value {unannotated_value} collides with a class in the mapping")
    bad_targets = [t for t in class_map.values() if not 0 <= t < num_classes]
    if bad_targets:
        raise ScribbleToolError(path, f"class map targets {bad_targets} outside 0..{num_classes - 1}")
    values = set(int(v) for v in np.unique(array))
    unknown = sorted(values - set(class_map) - {unannotated_value})
    if unknown:
        raise ScribbleToolError(path, f"label values {unknown} are neither the unannotated value "
                                      f"{unannotated_value} nor in the class mapping {sorted(class_map)}")
    result = np.full(array.shape, num_classes, dtype=np.int16)
    for source, target in class_map.items():
        result[array == source] = target
    if np.all(result == num_classes):
        raise ScribbleToolError(path, "scribble map has no annotated voxel")
    return result


def check_dense_values(array: np.ndarray, num_classes: int, path) -> None:
    values = [int(v) for v in np.unique(array) if not 0 <= v < num_classes]
    if values:
        raise ScribbleToolError(path, f"dense label values {values} outside 0..{num_classes - 1}")
