"""nnU-Net trainer classes of AttenScribble (found by nnU-Net through `nnunet_attenscribble/nnunet_ext`)."""
from .attenscribble_trainer import AttenScribbleTrainer
from .ablations import (AttenScribbleTrainer_BalancedPaddingBackground, AttenScribbleTrainer_CRFSigmaIntensity005,
                        AttenScribbleTrainer_CRFWeight03, AttenScribbleTrainer_HalfSimilarityWindow,
                        AttenScribbleTrainer_NoCRFRampUp, AttenScribbleTrainer_NoPartialDice,
                        AttenScribbleTrainer_NoSimilarity,
                        AttenScribbleTrainer_NnUNetPartialLoss, AttenScribbleTrainer_PaddingAsBackground,
                        AttenScribbleTrainer_PartialCE,
                        AttenScribbleTrainer_PartialCE_CRF, AttenScribbleTrainer_PartialCEDice,
                        AttenScribbleTrainer_PartialCEDice_CRF, AttenScribbleTrainer_PartialDice,
                        AttenScribbleTrainer_PlusSimilarity,
                        AttenScribbleTrainer_SlowSimilarityAffine, AttenScribbleTrainer_WithSimilarity)
from .budget import nnUNetTrainer_AttenScribbleBudget

__all__ = ["AttenScribbleTrainer", "AttenScribbleTrainer_PartialCE", "AttenScribbleTrainer_PartialCE_CRF",
           "AttenScribbleTrainer_NoSimilarity", "AttenScribbleTrainer_WithSimilarity", "AttenScribbleTrainer_PartialDice",
           "AttenScribbleTrainer_HalfSimilarityWindow", "AttenScribbleTrainer_PaddingAsBackground",
           "AttenScribbleTrainer_NnUNetPartialLoss", "AttenScribbleTrainer_SlowSimilarityAffine",
           "AttenScribbleTrainer_BalancedPaddingBackground",
           "AttenScribbleTrainer_NoCRFRampUp", "AttenScribbleTrainer_NoPartialDice",
           "AttenScribbleTrainer_PartialCEDice", "AttenScribbleTrainer_PartialCEDice_CRF",
           "AttenScribbleTrainer_CRFWeight03", "AttenScribbleTrainer_CRFSigmaIntensity005",
           "AttenScribbleTrainer_PlusSimilarity",
           "nnUNetTrainer_AttenScribbleBudget"]
