"""Loss terms run in at least float32: half-precision network outputs are promoted, float64 is kept."""
import torch


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
