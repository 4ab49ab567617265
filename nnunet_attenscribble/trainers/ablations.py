"""The default's ablation chain and the paper's objective: each class changes components through class attributes.

    nnUNetTrainer_AttenScribbleBudget          nnU-Net's ignore-label baseline (Dice + CE on the scribbles)
    AttenScribbleTrainer_PartialCEDice         partial CE + masked Dice, padding unannotated
    AttenScribbleTrainer_PartialCEDice_CRF     + masked gated CRF
    AttenScribbleTrainer                       + attention block (the default)
    AttenScribbleTrainer_PlusSimilarity        + attentive similarity loss
    AttenScribbleTrainer_PaperObjective        the paper's loss: attention, partial CE, CRF, similarity; no Dice
"""
from .attenscribble_trainer import AttenScribbleTrainer


class AttenScribbleTrainer_PartialCEDice(AttenScribbleTrainer):
    """Partial CE + masked Dice only: no attention block, no CRF (nnU-Net's ignore-label loss with out-of-image
    padding unannotated)."""
    use_attention = False
    crf_weight = 0.0


class AttenScribbleTrainer_PartialCEDice_CRF(AttenScribbleTrainer):
    """Partial CE + masked Dice + masked gated CRF; no attention block."""
    use_attention = False


class AttenScribbleTrainer_PlusSimilarity(AttenScribbleTrainer):
    """The default plus the paper's attentive similarity loss (weight 0.1): the last step of the default's ablation."""
    similarity_weight = 0.1


class AttenScribbleTrainer_PaperObjective(AttenScribbleTrainer):
    """The paper's full objective: attention block, partial CE, masked CRF and the attentive similarity loss (weight
    0.1), without the masked Dice this port adds (the CRF ramp-up, a schedule, stays)."""
    partial_dice_weight = 0.0
    similarity_weight = 0.1
