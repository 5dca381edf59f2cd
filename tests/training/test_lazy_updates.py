"""Lazy updates of lookup tables: LazyAdamW, clipping of sparse gradients, and when a run uses them."""

import pytest
import torch
from torch import nn

from mtl_text import TrainingConfig
from mtl_text.errors import ConfigError
from mtl_text.training.optimization import LazyAdamW, clip_grad_norm, sparse_lookup_tables


class Bag(nn.Module):
    """A lookup table (decayed), a bag of its rows per text, and a linear layer (not decayed)."""

    def __init__(self, sparse: bool, rows: int = 6):
        super().__init__()
        torch.manual_seed(0)
        self.table = nn.EmbeddingBag(rows, 4, mode="sum", sparse=sparse)
        self.out = nn.Linear(4, 2)

    def forward(self, ids):
        return self.out(self.table(ids, per_sample_weights=torch.linspace(0.5, 1.5, ids.numel()).view_as(ids)))


def train(model, optimizer_type, batches, clip):
    optimizer = optimizer_type([{"params": [model.table.weight], "weight_decay": 0.1},
                                {"params": model.out.parameters(), "weight_decay": 0.0}], lr=0.05, fused=True)
    for ids in batches:
        (model(ids).pow(2).sum() * 10).backward()
        norm = clip(list(model.parameters()), 1.0)
        optimizer.step()
        model.zero_grad(set_to_none=True)
    return optimizer, norm


def test_with_every_row_in_every_batch_lazy_updates_equal_adamw():
    batches = [torch.tensor([[0, 1, 2], [3, 4, 5]]), torch.tensor([[5, 3, 1], [0, 2, 4]])] * 3
    dense, sparse = Bag(sparse=False), Bag(sparse=True)
    _, norm_dense = train(dense, torch.optim.AdamW, batches, torch.nn.utils.clip_grad_norm_)
    optimizer, norm_sparse = train(sparse, LazyAdamW, batches, clip_grad_norm)
    assert norm_dense > 1.0  # the gradients were clipped
    torch.testing.assert_close(norm_sparse, norm_dense)
    for a, b in zip(dense.parameters(), sparse.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert set(optimizer.state[sparse.table.weight]) == {"step", "exp_avg", "exp_avg_sq"}  # AdamW's keys: checkpoints interchange
    assert optimizer.state[sparse.table.weight]["step"].item() == 6


def test_rows_outside_the_batch_keep_their_moments_and_only_decay():
    model = Bag(sparse=True)
    optimizer, _ = train(model, LazyAdamW, [torch.tensor([[0, 1], [1, 2]])], clip_grad_norm)
    before = model.table.weight.detach().clone()
    moments = optimizer.state[model.table.weight]["exp_avg"].clone()
    model(torch.tensor([[3, 4]])).sum().backward()
    optimizer.step()
    after, moved = model.table.weight.detach(), optimizer.state[model.table.weight]["exp_avg"]
    torch.testing.assert_close(after[[0, 1, 2, 5]], before[[0, 1, 2, 5]] * (1 - 0.05 * 0.1))  # decoupled decay alone
    assert torch.equal(moved[[0, 1, 2, 5]], moments[[0, 1, 2, 5]])
    assert not torch.allclose(after[[3, 4]], before[[3, 4]] * (1 - 0.05 * 0.1))  # the looked-up rows took an Adam step
    assert moved[[3, 4]].abs().sum() > 0


def test_clipping_sparse_gradients_follows_torch_on_the_dense_ones():
    small, large = Bag(sparse=True), Bag(sparse=True)
    ids = torch.tensor([[0, 1, 1], [1, 2, 2]])  # repeated rows: the sparse gradient holds duplicates until coalesced
    small(ids).sum().mul(1e-3).backward()
    large(ids).sum().mul(1e3).backward()
    dense_small = [p.grad.to_dense() if p.grad.is_sparse else p.grad.clone() for p in small.parameters()]
    dense_large = [torch.nn.Parameter(torch.zeros_like(p)) for p in large.parameters()]
    for d, p in zip(dense_large, large.parameters()):
        d.grad = p.grad.to_dense() if p.grad.is_sparse else p.grad.clone()
    expected = torch.nn.utils.clip_grad_norm_(dense_large, 1.0)
    norm = clip_grad_norm(list(large.parameters()), 1.0)
    torch.testing.assert_close(norm, expected)
    for d, p in zip(dense_large, large.parameters()):
        torch.testing.assert_close(p.grad.to_dense() if p.grad.is_sparse else p.grad, d.grad)
    assert clip_grad_norm(list(small.parameters()), 1.0) < 1.0  # below the bound: the gradients stay as they were
    for d, p in zip(dense_small, small.parameters()):
        assert torch.equal(p.grad.to_dense() if p.grad.is_sparse else p.grad, d)


def test_only_trainable_lookup_tables_turn_sparse():
    model = nn.ModuleDict({"words": nn.Embedding(5, 3), "frozen": nn.Embedding(5, 3), "bag": nn.EmbeddingBag(5, 2), "dense": nn.Linear(3, 3)})
    model["frozen"].weight.requires_grad_(False)
    assert sparse_lookup_tables(model) == ["words", "bag"]
    assert model["words"].sparse and model["bag"].sparse and not model["frozen"].sparse


def config(data_dir, **options):
    return TrainingConfig.from_options(tasks=["trec", "sst2"], data_dir=str(data_dir), max_train_examples=60, cache_dir="none",
                                       w2v_epochs=1, embedding_dim=8, max_steps=4, eval_every=4, patience=0, save_total_limit=0,
                                       **options)


def test_a_word_vector_run_trains_its_lookup_tables_lazily_unless_told_not_to(tmp_path, data_dir):
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    for i, (options, lazy) in enumerate((({}, True), ({"lazy_updates": False}, False), ({"sampling": "all"}, False))):
        cfg = config(data_dir, output_dir=str(tmp_path / f"run{i}"), **options)
        run = build_training(cfg, make_accelerator(cfg))
        model = run.accelerator.unwrap_model(run.model)
        assert run.lazy_updates is lazy
        assert isinstance(run.optimizer.optimizer, LazyAdamW) is lazy
        assert model.encoder.embedding.sparse is lazy and all(w.weight.sparse is lazy for w in model.wide.values())
    cfg = config(data_dir, output_dir=str(tmp_path / "refused"), sampling="all", lazy_updates=True)
    with pytest.raises(ConfigError, match="--lazy-updates needs one process.*--sampling all"):
        build_training(cfg, make_accelerator(cfg))
