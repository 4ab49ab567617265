"""Loss terms against brute-force references: values, gradients, masking rules and invariances."""
import pytest
import torch

from nnunet_attenscribble.crf_loss import masked_gated_crf_loss
from nnunet_attenscribble.intensity import rescale_to_unit_range
from nnunet_attenscribble.scribbles import multi_class_samples
from nnunet_attenscribble.similarity_loss import (attentive_similarity_loss, window_logits_and_row_logsumexp,
                                                  window_tables)
from nnunet_attenscribble.windows import window_offsets, window_radii

from nnunet_attenscribble.partial_ce import ClassBalancedPartialCrossEntropy

from reference import class_balanced_partial_ce_reference, crf_loss_reference, similarity_loss_reference



@pytest.fixture(autouse=True, scope="module")
def float64_default():
    """References are compared in float64; restore the default for the rest of the session."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _crf_case(shape, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, *shape, generator=g)
    image = torch.rand(2, 2, *shape, generator=g)
    unannotated = torch.rand(2, *shape, generator=g) > 0.3
    return logits, image, unannotated


@pytest.mark.parametrize("shape,spacing,radius", [((6, 7), (1.0, 1.0), 2), ((3, 5, 4), (2.5, 1.0, 1.0), 2),
                                                  ((5, 6), (1.0, 1.5), 3)])
def test_crf_loss_matches_reference_value_and_gradient(shape, spacing, radius):
    logits, image, unannotated = _crf_case(shape)
    radii = window_radii(spacing, radius, max_window_size=200)
    offsets = window_offsets(radii, spacing)
    fast_logits = logits.clone().requires_grad_()
    slow_logits = logits.clone().requires_grad_()
    fast = masked_gated_crf_loss(fast_logits.softmax(1), image, unannotated, offsets, 1.5, 0.3)
    slow = crf_loss_reference(slow_logits.softmax(1), image, unannotated, radii, spacing, 1.5, 0.3)
    fast.backward()
    slow.backward()
    assert fast.item() == pytest.approx(slow.item(), rel=1e-6)
    torch.testing.assert_close(fast_logits.grad, slow_logits.grad, rtol=1e-6, atol=1e-9)
    assert fast.dtype == torch.float64 or fast.dtype == torch.float32


def test_crf_gradcheck():
    logits, image, unannotated = _crf_case((4, 5), classes=2, seed=3)
    offsets = window_offsets((1, 2), (1.0, 1.0))
    probs = logits.softmax(1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p: masked_gated_crf_loss(p, image, unannotated, offsets, 2.0, 0.5), (probs,))


def test_crf_masking_rules():
    logits, image, _ = _crf_case((5, 5))
    offsets = window_offsets((2, 2), (1.0, 1.0))
    probs = logits.softmax(1).requires_grad_()
    # all annotated: no destination receives energy
    all_annotated = torch.zeros(2, 5, 5, dtype=torch.bool)
    loss = masked_gated_crf_loss(probs, image, all_annotated, offsets)
    assert loss.item() == 0.0
    # one unannotated voxel: only it and its neighbours get gradient, normalised by 1
    single = all_annotated.clone()
    single[0, 2, 2] = True
    loss = masked_gated_crf_loss(probs, image, single, offsets)
    loss.backward()
    touched = probs.grad.abs().sum(1) > 0
    assert touched[1].sum() == 0
    assert touched[0, 0].sum() > 0 and touched[0].sum() <= 25
    # a confident, uniform prediction costs nothing
    uniform = torch.zeros(2, 3, 5, 5)
    uniform[:, 1] = 1.0
    assert masked_gated_crf_loss(uniform, image, single, offsets).item() == pytest.approx(0.0)


def test_crf_class_permutation_invariance():
    logits, image, unannotated = _crf_case((5, 6))
    offsets = window_offsets((2, 2), (1.0, 1.0))
    probs = logits.softmax(1)
    permuted = probs[:, [2, 0, 1]]
    assert masked_gated_crf_loss(probs, image, unannotated, offsets).item() == pytest.approx(
        masked_gated_crf_loss(permuted, image, unannotated, offsets).item())


def test_rescale_to_unit_range():
    image = torch.randn(2, 1, 10, 10) * 3 + 5
    scaled = rescale_to_unit_range(image)
    assert scaled.min().item() == pytest.approx(0.0) and scaled.max().item() == pytest.approx(1.0)
    flat = image[0, 0].flatten().sort().values
    assert (scaled[0, 0] == 1.0).sum() >= 1 and (scaled[0, 0] == 1.0).sum() <= 2  # clipped at the 99th percentile
    assert torch.all(rescale_to_unit_range(torch.full((1, 1, 4, 4), 7.0)) == 0)
    assert flat.numel() == 100


def _similarity_case(grid, seed=0, dims=4):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(2, dims, *grid, generator=g)
    key = torch.randn(2, dims, *grid, generator=g)
    full = [s * 2 for s in grid]
    probs = torch.randn(2, 3, *full, generator=g).softmax(1)
    affine = torch.tensor([-0.7, 0.4])
    return query, key, probs, affine


@pytest.mark.parametrize("grid,spacing,radius", [((5, 6), (1.0, 1.0), 2), ((3, 4, 4), (3.0, 1.0, 1.0), 2)])
def test_similarity_loss_matches_dense_reference(grid, spacing, radius):
    query, key, probs, affine = _similarity_case(grid)
    radii = window_radii(spacing, radius, max_window_size=200)
    offsets = window_offsets(radii, spacing)
    weight = torch.tensor([1.0, 1.0])
    inputs_fast = [t.clone().requires_grad_() for t in (query, key, probs, affine)]
    inputs_slow = [t.clone().requires_grad_() for t in (query, key, probs, affine)]
    fast = attentive_similarity_loss(*inputs_fast[:4], weight, offsets, sigma=2.0, chunk_size=7)
    slow = similarity_loss_reference(*inputs_slow[:4], weight, radii, spacing, sigma=2.0)
    fast.backward()
    slow.backward()
    assert fast.item() == pytest.approx(slow.item(), rel=1e-6)
    for a, b in zip(inputs_fast, inputs_slow):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-9)
    assert inputs_fast[3].grad.abs().sum() > 0  # the affine (alpha, beta) is learned


def test_similarity_excludes_single_class_samples_but_counts_them():
    query, key, probs, affine = _similarity_case((4, 4))
    offsets = window_offsets((2, 2), (1.0, 1.0))
    both = attentive_similarity_loss(query, key, probs, affine, torch.tensor([1.0, 1.0]), offsets)
    first = attentive_similarity_loss(query, key, probs, affine, torch.tensor([1.0, 0.0]), offsets)
    second = attentive_similarity_loss(query, key, probs, affine, torch.tensor([0.0, 1.0]), offsets)
    assert first.item() + second.item() == pytest.approx(both.item())
    assert attentive_similarity_loss(query, key, probs, affine, torch.zeros(2), offsets).item() == 0.0


def test_chunked_window_logits_and_row_logsumexp_match_dense_and_gradcheck():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 12, 3, generator=g, requires_grad=True)
    k = torch.randn(2, 12, 3, generator=g, requires_grad=True)
    neighbour = window_tables((3, 4), tuple(window_offsets((1, 1), (1.0, 1.0))))[0]
    windows, lse = window_logits_and_row_logsumexp(q, k, neighbour, 5)
    dense = q @ k.transpose(1, 2)
    torch.testing.assert_close(lse, torch.logsumexp(dense, -1))
    torch.testing.assert_close(windows, dense[:, torch.arange(12)[:, None], neighbour])
    assert torch.autograd.gradcheck(lambda a, b: sum(t.sum() * w for t, w in zip(
        window_logits_and_row_logsumexp(a, b, neighbour, 5), (0.3, 1.0))), (q, k))


def test_window_tables_point_at_neighbours_inside_the_grid():
    offsets = tuple(window_offsets((1, 1), (1.0, 1.0)))
    neighbour, half, mirror, valid, _ = window_tables((3, 4), offsets)
    right = [offset for offset, _ in offsets].index((0, 1))
    assert neighbour[0, right] == 1 and neighbour[3, right] == 3     # token (0, 3) has no right neighbour
    assert len(half) == 4 and all(offsets[m][0] == tuple(-o for o in offsets[h][0]) for h, m in zip(half, mirror))
    assert valid.sum() == 9 + 8 + 12  # unordered pairs of a 3x4 grid: horizontal, vertical, diagonal


def test_multi_class_samples_from_scribbles():
    ignore = 4
    target = torch.full((3, 1, 4, 4), ignore)
    target[0, 0, 0, 0] = 0
    target[0, 0, 1, 1] = 2          # two classes
    target[1, 0, :2] = 3            # one class
    # sample 2: nothing annotated
    assert multi_class_samples(target, ignore).tolist() == [1.0, 0.0, 0.0]


def test_window_rules():
    assert window_radii((1.0, 1.0), 5, 125) == (5, 5)
    assert len(window_offsets((5, 5), (1.0, 1.0))) == 120
    assert window_radii((1.0, 1.0, 1.0), 5, 125) == (2, 2, 2)
    assert window_radii((10.0, 1.5, 1.5), 5, 125) == (0, 5, 5)
    assert window_radii((5.0, 1.5, 1.5), 5, 125) == (0, 3, 3)


def test_similarity_window_keeps_the_stride4_extent_at_deeper_stages():
    """Radius and sigma count tokens of a stride-4 grid: a stride-8 grid gets half as many tokens."""
    from nnunet_attenscribble.objective import PairwiseTerm, ScribbleRegularizers

    def similarity_window(token_spacing):
        return ScribbleRegularizers(3, (1.5, 1.5), PairwiseTerm(0.1, 6.0, 5), 0.1, PairwiseTerm(0.1, 6.0, 5),
                                    token_spacing, 125).similarity_offsets

    stride4, stride8 = similarity_window((6.0, 6.0)), similarity_window((12.0, 12.0))
    assert len(stride4) == 120 and dict(stride4)[(0, 1)] == 1.0      # the original 11x11, distances in tokens
    assert len(stride8) == 24 and dict(stride8)[(0, 1)] == 4.0       # 5x5; one stride-8 token = 2 units


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_regularizers_promote_autocast_outputs_to_float32(dtype):
    """Under CUDA autocast the network emits half precision; the terms must still be computed in float32."""
    from nnunet_attenscribble.objective import PairwiseTerm, ScribbleRegularizers
    g = torch.Generator().manual_seed(0)
    regularizers = ScribbleRegularizers(3, (1.0, 1.0), PairwiseTerm(0.1, 6.0, 2), 0.1, PairwiseTerm(0.1, 6.0, 2),
                                        (4.0, 4.0), 125)
    data = torch.randn(2, 1, 16, 16, generator=g, dtype=torch.float32)
    logits = torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float32)
    target = torch.full((2, 1, 16, 16), 3, dtype=torch.int16)
    target[:, 0, 2, 2:10], target[:, 0, 12, 2:10] = 0, 1
    attention = (torch.randn(2, 8, 4, 4, generator=g), torch.randn(2, 8, 4, 4, generator=g), torch.tensor([0.5, -0.2]))
    full = regularizers(data, [logits], [target], attention)
    half = regularizers(data, [logits.to(dtype)], [target], tuple(a.to(dtype) for a in attention))
    for name in ("crf", "similarity"):
        assert half[name].dtype == torch.float32 and torch.isfinite(half[name])
        assert half[name].item() == pytest.approx(full[name].item(), rel=2e-2)


def test_class_balanced_partial_ce_matches_reference_value_and_gradient():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=generator, requires_grad=True)
    target = torch.full((2, 1, 5, 6), 4.0)
    target[0, 0, 1, :] = 0           # background scribbled 6x as often as class 2, class 1 once, class 3 never
    target[1, 0, :, 0] = 0
    target[1, 0, 2, 3:5] = 2
    target[0, 0, 4, 5] = 1
    loss = ClassBalancedPartialCrossEntropy(ignore_index=4)(logits, target)
    reference = class_balanced_partial_ce_reference(logits, target[:, 0], 4)
    torch.testing.assert_close(loss, reference)
    gradient, = torch.autograd.grad(loss, logits)
    expected, = torch.autograd.grad(reference, logits)
    torch.testing.assert_close(gradient, expected)
    assert torch.all(gradient.abs().sum(1)[target[:, 0] == 4] == 0)  # unannotated voxels get no gradient
    balanced = ClassBalancedPartialCrossEntropy(ignore_index=4)
    assert balanced(logits, torch.full_like(target, 4.0)) == 0  # nothing scribbled at a scale: zero

