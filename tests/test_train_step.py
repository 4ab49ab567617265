"""The trainer's real train_step on degenerate scribble patches: finite losses, no NaN, the graph kept."""
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import step_time  # noqa: E402  (builds real trainers without nnU-Net's data folders)

from nnunet_attenscribble.objective import split_network_output  # noqa: E402


@pytest.fixture(scope="module")
def trainer():
    plans = step_time.preset_plans("tiny-2d")
    return step_time.make_trainer("AttenScribbleTrainer_PaperObjective", plans, "tiny-2d", torch.device("cpu"), 2)


def _batch(trainer, fill):
    batch = step_time.make_batch(trainer, 2, torch.device("cpu"))
    batch["target"] = [fill(t.clone()) for t in batch["target"]]
    return batch


def _only_class(target, value):
    target[:] = step_time.NUM_CLASSES
    target[..., 2:6, 3] = value
    return target


def _trainer_and_batch(name):
    """A tiny-2d trainer of class `name` and a synthetic batch drawn after seeding torch with 0."""
    trainer = step_time.make_trainer(name, step_time.preset_plans("tiny-2d"), "tiny-2d", torch.device("cpu"), 2)
    torch.manual_seed(0)
    return trainer, step_time.make_batch(trainer, 2, torch.device("cpu"))


@pytest.mark.parametrize("case", ["all_ignore", "single_class", "normal"])
def test_degenerate_patches_give_finite_losses(trainer, case):
    fills = {"all_ignore": lambda t: t.fill_(step_time.NUM_CLASSES), "single_class": lambda t: _only_class(t, 2),
             "normal": lambda t: t}
    before = [p.detach().clone() for p in trainer.network.parameters()]
    result = trainer.train_step(_batch(trainer, fills[case]))
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in result.values()), result
    assert all(torch.isfinite(p).all() for p in trainer.network.parameters())
    if case == "all_ignore":
        assert float(result["partial_loss"]) == 0.0
    if case in ("all_ignore", "single_class"):
        assert float(result["similarity_loss"]) == 0.0  # no sample holds two scribbled classes
    if case == "normal":
        assert float(result["similarity_loss"]) > 0.0 and float(result["crf_loss"]) > 0.0
    changed = sum(not torch.equal(a, b) for a, b in zip(before, trainer.network.parameters()))
    assert changed > 0  # CRF / momentum still move the network; nothing crashed


def test_similarity_affine_gradient_scale():
    """_SlowSimilarityAffine scales the gradient reaching alpha, beta by 0.1 (a hook set when the network is built)."""
    plans = step_time.preset_plans("tiny-2d")
    gradients = {}
    for name in ("AttenScribbleTrainer_PaperObjective", "AttenScribbleTrainer_SlowSimilarityAffine"):
        network = step_time.make_trainer(name, plans, "tiny-2d", torch.device("cpu"), 2).network
        affine = network.attention.similarity_affine
        (affine * torch.tensor([2.0, -3.0])).sum().backward()
        gradients[name] = affine.grad.clone()
    assert torch.allclose(gradients["AttenScribbleTrainer_PaperObjective"], torch.tensor([2.0, -3.0]))
    assert torch.allclose(gradients["AttenScribbleTrainer_SlowSimilarityAffine"], torch.tensor([0.2, -0.3]))


def test_class_balanced_trainer_loss_is_the_balanced_ce_at_every_scale():
    """_BalancedPaddingBackground swaps nnU-Net's CE inside its deep-supervision loss; the default keeps nnU-Net's."""
    from reference import class_balanced_partial_ce_reference
    losses = {}
    for name in ("AttenScribbleTrainer", "AttenScribbleTrainer_BalancedPaddingBackground"):
        trainer, batch = _trainer_and_batch(name)
        for target in batch["target"]:  # background scribbled generously: where the two losses differ
            target[..., : target.shape[-2] // 2, :] = 0
        with torch.no_grad():
            outputs, _ = split_network_output(trainer.network(batch["data"]))
            losses[name] = float(trainer.loss(outputs, batch["target"]))
            weights = trainer.loss.weight_factors
            expected = sum(w * class_balanced_partial_ce_reference(o, t[:, 0], step_time.NUM_CLASSES)
                           for w, o, t in zip(weights, outputs, batch["target"]) if w)
    assert losses["AttenScribbleTrainer_BalancedPaddingBackground"] == pytest.approx(float(expected), rel=1e-4)
    assert losses["AttenScribbleTrainer"] != pytest.approx(float(expected), rel=1e-2)


def test_default_loss_is_partial_ce_plus_masked_dice_at_every_scale():
    """The default adds nnU-Net's masked Dice (weight 1) to the partial CE at every deep-supervision scale, and so
    does _PlusSimilarity; _NoPartialDice (version 0.3's default) keeps the partial CE alone."""
    from reference import partial_ce_dice_reference
    for name, dice_weight in (("AttenScribbleTrainer", 1.0), ("AttenScribbleTrainer_NoPartialDice", 0.0),
                              ("AttenScribbleTrainer_PlusSimilarity", 1.0)):
        trainer, batch = _trainer_and_batch(name)
        with torch.no_grad():
            outputs, _ = split_network_output(trainer.network(batch["data"]))
            loss = float(trainer.loss(outputs, batch["target"]))
            expected = sum(w * partial_ce_dice_reference(o, t[:, 0], step_time.NUM_CLASSES,
                                                         trainer.configuration_manager.batch_dice, dice_weight)
                           for w, o, t in zip(trainer.loss.weight_factors, outputs, batch["target"]) if w)
        assert loss == pytest.approx(float(expected), rel=1e-4), name


def test_plus_similarity_adds_the_similarity_term_to_the_default():
    """_PlusSimilarity's training step has the default's terms plus a positive similarity loss; the default has none."""
    terms = {}
    for name in ("AttenScribbleTrainer", "AttenScribbleTrainer_PlusSimilarity"):
        trainer, batch = _trainer_and_batch(name)
        terms[name] = trainer.train_step(batch)
    assert set(terms["AttenScribbleTrainer"]) == {"loss", "partial_loss", "crf_loss"}
    assert set(terms["AttenScribbleTrainer_PlusSimilarity"]) == {"loss", "partial_loss", "crf_loss", "similarity_loss"}
    assert float(terms["AttenScribbleTrainer_PlusSimilarity"]["similarity_loss"]) > 0.0


def test_crf_rampup_scales_the_crf_term_over_the_first_epochs():
    """The default weighs the CRF term exp(-5 (1 - t)^2) until 20 % of the epochs, fully afterwards; _NoCRFRampUp
    (version 0.2's default) fully from the start."""
    plans = step_time.preset_plans("tiny-2d")
    trainer = step_time.make_trainer("AttenScribbleTrainer", plans, "tiny-2d", torch.device("cpu"), 2)
    trainer.num_epochs = 10
    factors = []
    for epoch in (0, 1, 2, 7):
        trainer.current_epoch = epoch
        factors.append(trainer.crf_rampup_factor())
    assert factors == pytest.approx([math.exp(-5.0), math.exp(-1.25), 1.0, 1.0])
    batch = step_time.make_batch(trainer, 2, torch.device("cpu"))
    with torch.no_grad():
        segmentation, attention = split_network_output(trainer.network(batch["data"]))
        full = trainer.regularizers(batch["data"], segmentation, batch["target"], attention)["crf"]
        ramped = trainer.regularizers(batch["data"], segmentation, batch["target"], attention, 0.25)["crf"]
    assert float(ramped) == pytest.approx(0.25 * float(full))
    unramped = step_time.make_trainer("AttenScribbleTrainer_NoCRFRampUp", plans, "tiny-2d", torch.device("cpu"), 2)
    unramped.current_epoch = 0
    assert unramped.crf_rampup_factor() == 1.0
