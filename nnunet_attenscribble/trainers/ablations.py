"""Variants of AttenScribbleTrainer: each changes components through class attributes."""
from .attenscribble_trainer import AttenScribbleTrainer


class AttenScribbleTrainer_PartialCE(AttenScribbleTrainer):
    """Partial cross-entropy only: no attention block, no CRF, no similarity loss."""
    use_attention = False
    crf_weight = 0.0


class AttenScribbleTrainer_PartialCE_CRF(AttenScribbleTrainer):
    """Partial cross-entropy + masked gated CRF; no attention block."""
    use_attention = False


class AttenScribbleTrainer_NoSimilarity(AttenScribbleTrainer):
    """Attention block + partial CE + masked CRF: the default since the benchmark's third session, kept under this
    name so that models trained with it still predict."""
    similarity_weight = 0.0


class AttenScribbleTrainer_WithSimilarity(AttenScribbleTrainer):
    """The paper's full objective: the default plus the attentive similarity loss (weight 0.1)."""
    similarity_weight = 0.1


class AttenScribbleTrainer_PartialDice(AttenScribbleTrainer_WithSimilarity):
    """Full objective plus nnU-Net's masked Dice on scribbled voxels (the partial-Dice decision, measured)."""
    partial_dice_weight = 1.0


class AttenScribbleTrainer_HalfSimilarityWindow(AttenScribbleTrainer_WithSimilarity):
    """Similarity window radius and sigma halved: on a plan at half the original's resolution (the benchmark's
    cpu profile) this restores the original's physical window extent."""
    similarity_radius = 2
    similarity_sigma = 3.0


class AttenScribbleTrainer_PaddingAsBackground(AttenScribbleTrainer_WithSimilarity):
    """Full objective with nnU-Net's padding rule: voxels outside the image (and outside nnU-Net's nonzero crop) are
    supervised as background, as the ignore-label baseline's are."""
    unannotated_padding = False


class AttenScribbleTrainer_NnUNetPartialLoss(AttenScribbleTrainer_WithSimilarity):
    """Full objective on nnU-Net's own partial loss: Dice + CE on scribbles with padding supervised as background
    (the ignore-label baseline's loss), plus the attention block, masked CRF and similarity terms."""
    partial_dice_weight = 1.0
    unannotated_padding = False


class AttenScribbleTrainer_SlowSimilarityAffine(AttenScribbleTrainer_WithSimilarity):
    """Full objective with the gradient of the similarity head's alpha, beta scaled by 0.1: under nnU-Net's SGD
    (momentum 0.99) that restores the original's effective step for them (momentum 0.9), so the kernel does not
    saturate within the first epochs."""
    similarity_affine_gradient_scale = 0.1


class AttenScribbleTrainer_BalancedPaddingBackground(AttenScribbleTrainer):
    """Class-balanced partial CE with out-of-image padding (and nnU-Net's outside-nonzero region) supervised as
    background, as nnU-Net's baseline does: those homogeneous regions leave the CRF's unannotated set, and the
    balancing keeps the many padding voxels from swamping the scribbles."""
    class_balanced_partial_ce = True
    unannotated_padding = False


class AttenScribbleTrainer_NoCRFRampUp(AttenScribbleTrainer):
    """The default of version 0.2: the CRF at full weight from the first iteration (no ramp-up)."""
    crf_rampup_fraction = 0.0
