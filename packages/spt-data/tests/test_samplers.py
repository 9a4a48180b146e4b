"""RepeatedRandomSampler: counts, repeats in a row, DDP shards, determinism per epoch."""

from collections import Counter

import pytest

from spt_data import RepeatedRandomSampler


def test_each_index_appears_n_views_times_in_a_row():
    sampler = RepeatedRandomSampler(range(10), n_views=3, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == 30
    assert Counter(order) == dict.fromkeys(range(10), 3)
    for start in range(0, 30, 3):
        assert len(set(order[start : start + 3])) == 1


def test_order_is_shuffled_and_deterministic_per_epoch():
    a = RepeatedRandomSampler(range(50), n_views=2, seed=5)
    b = RepeatedRandomSampler(range(50), n_views=2, seed=5)
    first = list(a)
    assert first == list(b)
    assert first[::2] != list(range(50))
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) != first


def test_no_shuffle_keeps_index_order():
    assert list(RepeatedRandomSampler(range(3), n_views=2, shuffle=False)) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("n", [12, 10])
def test_ddp_shards_cover_the_dataset_and_are_disjoint_when_it_divides(n):
    world = 3
    shards = []
    for rank in range(world):
        sampler = RepeatedRandomSampler(range(n), n_views=2, seed=1, num_replicas=world, rank=rank)
        sampler.set_epoch(4)
        order = list(sampler)
        assert len(order) == len(sampler) == 2 * -(-n // world)
        shards.append(order[::2])
    assert set().union(*map(set, shards)) == set(range(n))
    if n % world == 0:
        assert sum(len(s) for s in shards) == n
        assert len(set().union(*map(set, shards))) == n


def test_ddp_drop_last_cuts_the_tail_and_keeps_shards_disjoint():
    shards = [
        list(RepeatedRandomSampler(range(10), 2, num_replicas=3, rank=r, drop_last=True))[::2]
        for r in range(3)
    ]
    flat = [i for s in shards for i in s]
    assert len(flat) == 9 == len(set(flat))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_views": 0}, "n_views must be a positive int"),
        ({"num_replicas": 2, "rank": 2}, r"rank must be in \[0, 1\]"),
        ({"num_replicas": 0}, "num_replicas"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RepeatedRandomSampler(range(4), **kwargs)


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        RepeatedRandomSampler([], n_views=2)
