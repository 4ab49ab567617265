"""Variants of AttenScribbleTrainer: each changes components through class attributes."""
from .attenscribble_trainer import AttenScribbleTrainer


class AttenScribbleTrainer_NoPartialDice(AttenScribbleTrainer):
    """The default without nnU-Net's masked Dice: partial CE as the original's only supervised term (version 0.3's
    default, and the base of the variants measured with it)."""
    partial_dice_weight = 0.0


class AttenScribbleTrainer_PartialCEDice(AttenScribbleTrainer):
    """Partial CE + masked Dice only: no attention block, no CRF (nnU-Net's ignore-label loss with out-of-image
    padding unannotated)."""
    use_attention = False
    crf_weight = 0.0


class AttenScribbleTrainer_PartialCEDice_CRF(AttenScribbleTrainer):
    """Partial CE + masked Dice + masked gated CRF; no attention block."""
    use_attention = False


class AttenScribbleTrainer_PartialCE(AttenScribbleTrainer_PartialCEDice):
    """Partial cross-entropy only: no masked Dice, no attention block, no CRF, no similarity loss."""
    partial_dice_weight = 0.0


class AttenScribbleTrainer_PartialCE_CRF(AttenScribbleTrainer_PartialCEDice_CRF):
    """Partial cross-entropy + masked gated CRF; no masked Dice, no attention block."""
    partial_dice_weight = 0.0


class AttenScribbleTrainer_NoSimilarity(AttenScribbleTrainer):
    """The default under its name of the benchmark's third session (attention block + partial CE + masked CRF; the
    masked Dice since 0.4.0), kept so that models trained with it still predict."""
    similarity_weight = 0.0


class AttenScribbleTrainer_WithSimilarity(AttenScribbleTrainer_NoPartialDice):
    """The paper's full objective: attention block, partial CE, masked CRF and the attentive similarity loss
    (weight 0.1); no masked Dice."""
    similarity_weight = 0.1


class AttenScribbleTrainer_PlusSimilarity(AttenScribbleTrainer):
    """The default plus the paper's attentive similarity loss (weight 0.1): the last step of the default's ablation."""
    similarity_weight = 0.1


class AttenScribbleTrainer_PartialDice(AttenScribbleTrainer):
    """The default since version 0.4.0 (partial CE + masked Dice), kept under the name it was measured with so that
    its models still predict (until 0.3.0 this class was the full objective plus masked Dice)."""


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


class AttenScribbleTrainer_BalancedPaddingBackground(AttenScribbleTrainer_NoPartialDice):
    """Class-balanced partial CE with out-of-image padding (and nnU-Net's outside-nonzero region) supervised as
    background, as nnU-Net's baseline does: those homogeneous regions leave the CRF's unannotated set, and the
    balancing keeps the many padding voxels from swamping the scribbles."""
    class_balanced_partial_ce = True
    unannotated_padding = False


class AttenScribbleTrainer_NoCRFRampUp(AttenScribbleTrainer_NoPartialDice):
    """The default of version 0.2: the CRF at full weight from the first iteration (no ramp-up)."""
    crf_rampup_fraction = 0.0


class AttenScribbleTrainer_CRFWeight03(AttenScribbleTrainer):
    """The default with the masked CRF at three times its weight (0.3): pulls predicted boundaries harder to
    intensity edges."""
    crf_weight = 0.3


class AttenScribbleTrainer_CRFSigmaIntensity005(AttenScribbleTrainer):
    """The default with the CRF's intensity bandwidth halved (0.05 on [0, 1]-rescaled patches): weaker contrasts
    separate neighbours."""
    crf_sigma_intensity = 0.05
