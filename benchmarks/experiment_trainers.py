"""Experiment-only trainer variants: measured in docs/RESULTS.md ("What we tried"), not shipped with the package.

`scribble_benchmark.py` makes them visible to nnU-Net (PYTHONPATH + nnUNet_extTrainer=benchmarks/nnunet_ext); each
sets class attributes of a shipped trainer.
"""
import os
from pathlib import Path

from nnunet_attenscribble.trainers import AttenScribbleTrainer, AttenScribbleTrainer_PaperObjective


def experiment_trainer_environment(env) -> dict:
    """PYTHONPATH and nnUNet_extTrainer of `env` extended so that nnU-Net finds the classes of this module."""
    here = Path(__file__).resolve().parent
    return {key: os.pathsep.join([part for part in (env.get(key) or "").split(os.pathsep) if part] + [value])
            for key, value in (("PYTHONPATH", str(here)), ("nnUNet_extTrainer", str(here / "nnunet_ext")))}


class AttenScribbleTrainer_NoPartialDice(AttenScribbleTrainer):
    """The default without the masked Dice: partial CE as the only supervised term (version 0.3's default)."""
    partial_dice_weight = 0.0


class AttenScribbleTrainer_PartialCE(AttenScribbleTrainer_NoPartialDice):
    """Partial cross-entropy only: no masked Dice, no attention block, no CRF."""
    use_attention = False
    crf_weight = 0.0


class AttenScribbleTrainer_PartialCE_CRF(AttenScribbleTrainer_NoPartialDice):
    """Partial cross-entropy + masked gated CRF; no masked Dice, no attention block."""
    use_attention = False


class AttenScribbleTrainer_NoCRFRampUp(AttenScribbleTrainer_NoPartialDice):
    """Version 0.2's default: the CRF at full weight from the first iteration."""
    crf_rampup_fraction = 0.0


class AttenScribbleTrainer_BalancedPaddingBackground(AttenScribbleTrainer_NoPartialDice):
    """Class-balanced partial CE with out-of-image padding supervised as background, as nnU-Net's baseline does."""
    class_balanced_partial_ce = True
    unannotated_padding = False


class AttenScribbleTrainer_PaddingAsBackground(AttenScribbleTrainer_PaperObjective):
    """The paper's objective with nnU-Net's padding rule: out-of-image voxels supervised as background."""
    unannotated_padding = False


class AttenScribbleTrainer_NnUNetPartialLoss(AttenScribbleTrainer_PaperObjective):
    """The paper's terms on nnU-Net's own partial loss: Dice + CE on scribbles, padding supervised as background."""
    partial_dice_weight = 1.0
    unannotated_padding = False


class AttenScribbleTrainer_SlowSimilarityAffine(AttenScribbleTrainer_PaperObjective):
    """The similarity head's alpha, beta with 0.1x gradient: the original's effective step under momentum 0.99."""
    similarity_affine_gradient_scale = 0.1


class AttenScribbleTrainer_CRFWeight03(AttenScribbleTrainer):
    """The default with the masked CRF at three times its weight (0.3)."""
    crf_weight = 0.3


class AttenScribbleTrainer_CRFSigmaIntensity005(AttenScribbleTrainer):
    """The default with the CRF's intensity bandwidth halved (0.05 on [0, 1]-rescaled patches)."""
    crf_sigma_intensity = 0.05
