"""Network surgery on the U-Nets nnU-Net generates: shapes, block placement, gradients, checkpoint loading."""
import pytest
import torch

from nnunet_attenscribble.attention_block import DepthwiseConv3dByPlanes, SpatialSelfAttentionBlock, \
    depthwise_conv3d_by_planes
from nnunet_attenscribble.network_surgery import AttentionUNet, default_attention_stage
from nnunet_attenscribble.trainers import AttenScribbleTrainer, AttenScribbleTrainer_PartialCEDice, \
    AttenScribbleTrainer_PaperObjective
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from plans_helpers import CASES, configuration


def _build(trainer, case, deep_supervision=True, seed=0):
    architecture, patch, strides = CASES[case]
    torch.manual_seed(seed)
    return trainer.build_network_architecture(None, configuration(architecture, patch, strides), 1, 3,
                                              deep_supervision), patch


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_unchanged_and_block_present(case):
    plain, patch = _build(nnUNetTrainer, case)
    wrapped, _ = _build(AttenScribbleTrainer, case)
    assert isinstance(wrapped, AttentionUNet)
    x = torch.randn(2, 1, *patch)
    plain.eval(), wrapped.eval()
    with torch.no_grad():
        expected, got = plain(x), wrapped(x)
    assert [t.shape for t in got] == [t.shape for t in expected]
    # every plain parameter keeps its name; only attention.* is new
    plain_keys, wrapped_keys = set(plain.state_dict()), set(wrapped.state_dict())
    assert plain_keys <= wrapped_keys
    assert all(k.startswith("attention.") for k in wrapped_keys - plain_keys)
    # the block sits on the stage with in-plane stride 4
    assert wrapped.attention_stage == 2


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_output_and_gradients_reach_block(case):
    wrapped, patch = _build(AttenScribbleTrainer_PaperObjective, case)
    wrapped.train()
    segmentation, query, key, affine = wrapped(torch.randn(2, 1, *patch))
    assert isinstance(segmentation, list) and segmentation[0].shape == (2, 3, *patch)
    assert query.shape[2:] == key.shape[2:] and affine.shape == (2,)
    (segmentation[0].sum() + (query * key).sum() + affine.sum()).backward()
    for name, parameter in wrapped.attention.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_block_output_feeds_skip_and_deeper_stages():
    wrapped, patch = _build(AttenScribbleTrainer, "plain-2d", deep_supervision=False)
    wrapped.eval()
    x = torch.randn(1, 1, *patch)
    reference = wrapped(x)
    with torch.no_grad():
        wrapped.attention.norm_out.bias.add_(1.0)  # changes only the block output
    assert not torch.allclose(wrapped(x), reference)


@pytest.mark.parametrize("trainer", [AttenScribbleTrainer, AttenScribbleTrainer_PaperObjective,
                                     AttenScribbleTrainer_PartialCEDice])
def test_state_dict_round_trip_through_predictor_path(trainer):
    trained, patch = _build(trainer, "resenc-3d", deep_supervision=True, seed=1)
    restored, _ = _build(trainer, "resenc-3d", deep_supervision=False, seed=2)
    restored.load_state_dict(trained.state_dict(), strict=True)
    trained.eval(), restored.eval()
    trained.decoder.deep_supervision = False
    x = torch.randn(1, 1, *patch)
    with torch.no_grad():
        torch.testing.assert_close(restored(x), trained(x))


def test_default_without_similarity_has_no_unused_parameters():
    wrapped, patch = _build(AttenScribbleTrainer, "plain-2d")
    wrapped.train()
    output = wrapped(torch.randn(2, 1, *patch))
    assert isinstance(output, list)  # no attention tensors returned: nothing for a loss to need
    sum(o.sum() for o in output).backward()
    unused = [n for n, p in wrapped.named_parameters() if p.grad is None and not n.startswith("decoder.seg_layers")]
    assert unused == []


def test_default_stage_rule():
    budget = AttenScribbleTrainer.attention_max_tokens
    two_d = [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2], [2, 2], [2, 2]]
    assert default_attention_stage(two_d, (256, 224), 4096) == 2       # the original's stride 4: 64x56 tokens
    assert default_attention_stage(two_d, (256, 224), budget) == 3     # ACDC 2d default: 32x28 tokens
    assert default_attention_stage(two_d, (1024, 1024), budget) == 5   # too many tokens at strides 4 to 16
    acdc_3d = [[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]]
    assert default_attention_stage(acdc_3d, (20, 256, 224), budget) == 4  # 5x16x14 tokens
    hippocampus = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert default_attention_stage(hippocampus, (40, 56, 40), budget) == 2
    assert default_attention_stage(hippocampus, (40, 56, 40), 100) == 3  # nothing fits: the deepest stage


def test_torch_compile_full_graph_matches_eager():
    """nnU-Net compiles the network on CUDA by default: the wrapper must compile without graph breaks."""
    wrapped, patch = _build(AttenScribbleTrainer_PaperObjective, "plain-2d")
    wrapped.train()
    x = torch.randn(2, 1, *patch)
    eager = wrapped(x)
    compiled = torch.compile(wrapped, fullgraph=True)(x)
    torch.testing.assert_close(compiled[0][0], eager[0][0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(compiled[1], eager[1], rtol=1e-4, atol=1e-4)
    (compiled[0][0].sum() + compiled[3].sum()).backward()
    assert wrapped.attention.similarity_affine.grad is not None


def test_depthwise_3d_by_planes_matches_conv3d():
    """The 3D block's depthwise conv path for CUDA (2D convs over depth-shifted planes) equals nn.Conv3d in value
    and in every gradient, also on an anisotropic grid; the 3D block uses the module, the 2D block nn.Conv2d."""
    torch.manual_seed(0)
    conv = DepthwiseConv3dByPlanes(6, 6, kernel_size=3, padding=1, groups=6).double()
    x = torch.randn(2, 6, 4, 5, 7, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.conv3d(x, conv.weight, conv.bias, padding=1, groups=6)
    out = depthwise_conv3d_by_planes(x, conv.weight, conv.bias, 1)
    assert torch.allclose(out, reference, atol=1e-12) and torch.allclose(conv(x), reference, atol=1e-12)
    weights = torch.randn_like(out)
    ours = torch.autograd.grad((out * weights).sum(), (x, conv.weight, conv.bias))
    theirs = torch.autograd.grad((reference * weights).sum(), (x, conv.weight, conv.bias))
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(ours, theirs))
    assert isinstance(SpatialSelfAttentionBlock(8, torch.nn.Conv3d).mlp_depthwise, DepthwiseConv3dByPlanes)
    assert type(SpatialSelfAttentionBlock(8, torch.nn.Conv2d).mlp_depthwise) is torch.nn.Conv2d


@pytest.mark.parametrize("case", sorted(CASES))
def test_mix_ffn_depthwise_conv_has_the_authors_init_in_the_built_network(case):
    """Through nnU-Net's build path the Mix-FFN depthwise conv keeps normal(0, sqrt(2 / fan_out)) weights (fan_out
    = kernel volume for a depthwise conv) and zero bias; torch's default (uniform, std 1/sqrt(3 fan_in)) fails."""
    wrapped, _ = _build(AttenScribbleTrainer, case)
    conv = wrapped.attention.mlp_depthwise
    expected = (2.0 / conv.weight[0].numel()) ** 0.5
    weights = conv.weight.detach().flatten().double()
    assert abs(weights.std().item() / expected - 1) < 4 / weights.numel() ** 0.5 + 0.02
    assert abs(weights.mean().item()) < 4 * expected / weights.numel() ** 0.5
    kurtosis = (((weights - weights.mean()) / weights.std()) ** 4).mean().item()
    assert 2.4 < kurtosis < 3.6  # normal (3), not uniform (1.8)
    assert torch.count_nonzero(conv.bias) == 0
