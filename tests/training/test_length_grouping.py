"""--group-by-length: batches of similar lengths, a fresh seeded order each epoch, less padding."""

import random

from mtl_text.training.streams import LengthGroupedSampler


def padded_tokens(order, lengths, batch_size):
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_each_epoch_is_a_seeded_permutation_with_less_padding():
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(2000)]
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=7)
    first = list(sampler)
    assert sorted(first) == list(range(2000)) and len(sampler) == 2000
    assert list(sampler) == first  # same epoch, same order
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(2000)) and second != first
    replay = LengthGroupedSampler(lengths, batch_size=16, seed=7)
    replay.set_epoch(1)
    assert list(replay) == second  # a resumed run replays the epoch
    shuffled = list(range(2000))
    rng.shuffle(shuffled)
    assert padded_tokens(first, lengths, 16) < 0.6 * padded_tokens(shuffled, lengths, 16)
