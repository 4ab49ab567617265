"""What the scribbles of a patch say, derived from the scribble target only (never from dense labels)."""
import torch


def annotated_mask(target: torch.Tensor, ignore_label: int) -> torch.Tensor:
    """Boolean (B, 1, *spatial) mask of scribbled voxels."""
    return target != ignore_label


def multi_class_samples(target: torch.Tensor, ignore_label: int) -> torch.Tensor:
    """Float (B,) flag: 1 where the patch's scribbles hold at least two classes, else 0.

    The attentive similarity loss excludes single-class samples (the original derived this from the dense
    label; here it comes from the scribbles)."""
    batch = target.shape[0]
    flat = target.reshape(batch, -1).long()
    classes_present = torch.zeros(batch, ignore_label + 1, dtype=torch.bool, device=target.device)
    classes_present.scatter_(1, flat.clamp(0, ignore_label), True)
    return (classes_present[:, :ignore_label].sum(1) >= 2).float()
