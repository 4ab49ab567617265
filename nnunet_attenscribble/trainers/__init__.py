"""nnU-Net trainer classes of AttenScribble (found by nnU-Net through `nnunet_attenscribble/nnunet_ext`): the default,
its ablation chain and the paper's objective (ablations.py)."""
from .attenscribble_trainer import AttenScribbleTrainer
from .ablations import (AttenScribbleTrainer_PaperObjective, AttenScribbleTrainer_PartialCEDice,
                        AttenScribbleTrainer_PartialCEDice_CRF, AttenScribbleTrainer_PlusSimilarity)
from .budget import nnUNetTrainer_AttenScribbleBudget

__all__ = ["AttenScribbleTrainer", "AttenScribbleTrainer_PartialCEDice", "AttenScribbleTrainer_PartialCEDice_CRF",
           "AttenScribbleTrainer_PlusSimilarity", "AttenScribbleTrainer_PaperObjective",
           "nnUNetTrainer_AttenScribbleBudget"]
