"""Out-of-image padding must reach the loss as unannotated, not as background scribbles."""
import numpy as np
import torch

from nnunet_attenscribble.trainers import AttenScribbleTrainer, nnUNetTrainer_AttenScribbleBudget

IGNORE = 4


def _seed():
    """nnU-Net's transforms draw from numpy and torch: both seeded, or a rotation may move the scribble out."""
    np.random.seed(0)
    torch.manual_seed(0)


def _pipeline(trainer, training=True):
    if training:
        return trainer.get_training_transforms(np.array([32, 32]), (0.0, 0.0), None, (0, 1), False,
                                               foreground_labels=[1, 2, 3], ignore_label=IGNORE)
    return trainer.get_validation_transforms(None, foreground_labels=[1, 2, 3], ignore_label=IGNORE)


def _padded_sample():
    segmentation = torch.full((1, 32, 32), IGNORE, dtype=torch.int16)
    segmentation[:, :, 24:] = -1                      # what nnU-Net's loader writes outside the image
    segmentation[0, 10, 5:15] = 1                     # a scribble
    return {"image": torch.randn(1, 32, 32), "segmentation": segmentation}


def test_padding_becomes_ignore_in_training_and_validation():
    for training in (True, False):
        _seed()
        out = _pipeline(AttenScribbleTrainer, training)(**_padded_sample())
        target = out["segmentation"]
        assert (target == -1).sum() == 0
        assert (target == 0).sum() == 0, "padding was turned into background scribbles"
        assert (target == 1).sum() > 0


def test_plain_nnunet_baseline_keeps_its_behaviour():
    _seed()
    out = _pipeline(nnUNetTrainer_AttenScribbleBudget)(**_padded_sample())
    assert (out["segmentation"] == 0).sum() > 0
