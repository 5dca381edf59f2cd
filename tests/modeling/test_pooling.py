import pytest
import torch
import torch.nn.functional as F

from mtl_text.modeling.pooling import (
    CNN_FILTERS,
    CNN_WIDTHS,
    HIERARCHICAL_WINDOW,
    POOLING_MODES,
    Pooling,
    masked_hierarchical,
    masked_max,
    masked_mean,
)


@pytest.fixture
def batch():
    torch.manual_seed(0)
    hidden = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    return hidden, mask


def test_mean_ignores_padding(batch):
    hidden, mask = batch
    out = masked_mean(hidden, mask)
    assert torch.allclose(out[0], hidden[0].mean(0))
    assert torch.allclose(out[1], hidden[1, :2].mean(0))
    assert torch.equal(out[2], torch.zeros(4))  # no tokens: zero vector


def test_max_ignores_padding(batch):
    hidden, mask = batch
    hidden = hidden.clone()
    hidden[1, 2:] = 100.0  # padding with huge values must not win
    out = masked_max(hidden, mask)
    assert torch.allclose(out[1], hidden[1, :2].max(0).values)
    assert torch.equal(out[2], torch.zeros(4))


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_padding_values_do_not_change_the_pooled_vector(batch, mode):
    hidden, mask = batch
    pool = Pooling(mode, 4)
    altered = hidden.clone()
    altered[1, 2:] = torch.randn(3, 4) * 50
    a, b = pool(hidden, mask), pool(altered, mask)
    assert a.shape == (3, pool.output_dim)
    assert torch.allclose(a[1], b[1], atol=1e-6)
    assert torch.isfinite(a).all()


@pytest.mark.parametrize("mode", [m for m in POOLING_MODES if m != "cls"])
def test_a_batch_of_empty_texts_pools_to_zeros(mode):
    """Word-level tokenization of empty texts gives no positions at all (the predictor scores "" for
    the heads' prior): every word-vector pooling returns zeros of its output size."""
    pool = Pooling(mode, 4)
    assert torch.equal(pool(torch.randn(2, 0, 4), torch.zeros(2, 0, dtype=torch.long)), torch.zeros(2, pool.output_dim))


def test_hierarchical_is_the_max_over_windows_of_their_means():
    """SWEM-hier: the mean of every window of 5 consecutive real tokens, then the maximum over windows;
    a text shorter than the window pools to its mean, a text without tokens to zeros."""
    torch.manual_seed(0)
    hidden = torch.randn(4, 8, 3)
    lengths = [8, 6, 3, 0]
    mask = torch.tensor([[1] * n + [0] * (8 - n) for n in lengths])
    hidden[1, 6:] = 1e4  # padding must not enter a window
    pooled = masked_hierarchical(hidden, mask)
    assert HIERARCHICAL_WINDOW == 5
    for row, n in enumerate(lengths[:2]):
        windows = torch.stack([hidden[row, i:i + 5].mean(0) for i in range(n - 4)])
        assert torch.allclose(pooled[row], windows.max(0).values, atol=1e-5)
    assert torch.allclose(pooled[2], hidden[2, :3].mean(0), atol=1e-6)
    assert torch.equal(pooled[3], torch.zeros(3))
    assert torch.allclose(masked_hierarchical(hidden[:, :4], mask[:, :4]), masked_mean(hidden[:, :4], mask[:, :4]))  # all shorter
    assert torch.equal(Pooling("hierarchical", 3)(hidden, mask), pooled)
    assert torch.equal(masked_hierarchical(hidden[:, :0], mask[:, :0]), torch.zeros(4, 3))  # a batch of empty texts


def test_hierarchical_and_cnn_see_word_order_that_mean_and_max_do_not():
    """The same words in another order: mean and max pool alike, hierarchical and cnn pooling do not."""
    torch.manual_seed(0)
    hidden = torch.randn(1, 10, 3)
    mask = torch.ones(1, 10, dtype=torch.long)
    shuffled = hidden[:, torch.tensor([0, 5, 1, 6, 2, 7, 3, 8, 4, 9])]
    for mode, sees_order in (("mean", False), ("max", False), ("hierarchical", True), ("cnn", True)):
        pool = Pooling(mode, 3)
        assert torch.allclose(pool(hidden, mask), pool(shuffled, mask), atol=1e-6) != sees_order, mode


def test_output_dims():
    assert Pooling("mean_max", 8).output_dim == 16
    assert Pooling("attention", 8).output_dim == 8
    assert Pooling("cnn", 8).output_dim == CNN_FILTERS * len(CNN_WIDTHS) == 300


def test_cnn_is_kims_convolution_relu_and_max_over_the_real_tokens():
    """Each width's filters over the text alone ("same" zero padding), ReLU, max over its real
    positions; padding, dropped words and the other text of a pair are zero vectors to the filters."""
    torch.manual_seed(0)
    pool = Pooling("cnn", 6)
    hidden = torch.randn(3, 7, 6)
    mask = torch.tensor([[1] * 7, [1, 1, 1, 1, 0, 0, 0], [0] * 7])
    pooled = pool(hidden, mask)
    for row, n in enumerate((7, 4)):
        x = hidden[row, :n].T.unsqueeze(0)  # (1, 6, n): the text alone
        expected = []
        for conv in pool.cnn.convolutions:
            w = conv.kernel_size[0]
            maps = torch.relu(F.conv1d(F.pad(x, ((w - 1) // 2, w - 1 - (w - 1) // 2)), conv.weight, conv.bias))  # (1, filters, n)
            expected.append(maps.max(-1).values[0])
        assert torch.allclose(pooled[row], torch.cat(expected), atol=1e-5)
    assert torch.equal(pooled[2], torch.zeros(300))  # a text without tokens


def test_attention_weights_sum_to_one_over_real_tokens(batch):
    hidden, mask = batch
    pool = Pooling("attention", 4)
    with torch.no_grad():
        pool.attention.score.weight.zero_()  # equal scores -> plain mean over real tokens
    assert torch.allclose(pool(hidden, mask)[:2], masked_mean(hidden, mask)[:2], atol=1e-6)
    assert torch.equal(pool(hidden, mask)[2], torch.zeros(4))


def test_cls_takes_the_first_token(batch):
    hidden, mask = batch
    assert torch.equal(Pooling("cls", 4)(hidden, mask), hidden[:, 0])


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown pooling"):
        Pooling("median", 4)


def test_attention_scores_each_distinct_id_once_with_the_same_result_and_gradients():
    """Token ids from a context-free encoder: one score per distinct id, the same pooled vectors and
    the same gradients (for the word vectors and the attention's weights) as scoring every position."""
    torch.manual_seed(0)
    ids = torch.tensor([[5, 3, 5, 7, 3, 0], [3, 3, 2, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    results = []
    for token_ids in (None, ids):
        torch.manual_seed(1)
        vectors, pool = torch.nn.Embedding(9, 4), Pooling("attention", 4)
        pooled = pool(vectors(ids), mask, token_ids)
        (pooled * torch.arange(1.0, 5.0)).sum().backward()
        results.append((pooled, vectors.weight.grad, pool.attention.proj.weight.grad))
    (a, grad_a, proj_a), (b, grad_b, proj_b) = results
    assert torch.allclose(a, b, atol=1e-6) and torch.equal(b[2], torch.zeros(4))
    assert torch.allclose(grad_a, grad_b, atol=1e-6) and torch.allclose(proj_a, proj_b, atol=1e-6)
    assert grad_b[5].abs().sum() > 0  # the words' vectors learn through the shared scores


def test_distinct_ids_change_nothing_for_the_other_poolings(batch):
    hidden, mask = batch
    ids = torch.arange(15).reshape(3, 5)
    for mode in ("mean", "max", "mean_max"):
        pool = Pooling(mode, 4)
        assert torch.equal(pool(hidden, mask), pool(hidden, mask, ids))
