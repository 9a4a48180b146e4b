"""DeviceLoader: batches are gathers, a seeded order per epoch, DDP shards, resume in Lightning."""

from collections import Counter

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from torch import nn

from spt_data import DataModule, DeviceLoader, DictDataset, FromTorchDataset


def table(n=10):
    gen = torch.Generator().manual_seed(0)
    return {
        "image": torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=gen),
        "label": torch.arange(n) % 3,
    }


def flat(lists):
    return [i for items in lists for i in items]


def order_of(loader):
    return [i for batch in loader for i in batch["sample_idx"].tolist()]


def test_a_batch_is_the_rows_of_its_sample_idx():
    data = table()
    loader = DeviceLoader(data, batch_size=4, seed=3)
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    for batch in batches:
        assert sorted(batch) == ["image", "label", "sample_idx"]
        assert batch["image"].dtype == torch.uint8
        assert batch["sample_idx"].dtype == torch.int64
        assert torch.equal(batch["image"], data["image"][batch["sample_idx"]])
        assert torch.equal(batch["label"], data["label"][batch["sample_idx"]])


def test_given_sample_idx_is_gathered_not_replaced():
    data = {"x": torch.randn(6, 2), "sample_idx": torch.arange(100, 106)}
    batch = next(iter(DeviceLoader(data, batch_size=3, shuffle=False)))
    assert batch["sample_idx"].tolist() == [100, 101, 102]


def test_order_depends_on_seed_and_epoch_only():
    a, b = DeviceLoader(table(), 2, seed=5), DeviceLoader(table(), 2, seed=5)
    first = order_of(a)
    assert first == order_of(b)
    assert sorted(first) == list(range(10))
    assert first != list(range(10))
    second = order_of(a)  # a loop without Lightning: the next iteration is epoch 1
    assert second != first
    b.set_epoch(1)
    assert order_of(b) == second
    b.sampler.set_epoch(0)  # what Lightning calls
    assert order_of(b) == first
    assert order_of(DeviceLoader(table(), 2, seed=6)) != first


def test_no_shuffle_serves_rows_in_order_every_epoch():
    loader = DeviceLoader(table(), 4, shuffle=False, drop_last=False)
    assert order_of(loader) == order_of(loader) == list(range(10))


def test_drop_last_sets_the_number_of_batches():
    assert len(DeviceLoader(table(10), 4, drop_last=True)) == 2
    kept = DeviceLoader(table(10), 4, drop_last=False, shuffle=False)
    assert len(kept) == 3
    assert [len(b["label"]) for b in kept] == [4, 4, 2]


def shards(n, world, batch_size, drop_last, epoch=0):
    out = []
    for rank in range(world):
        loader = DeviceLoader(table(n), batch_size, seed=1, drop_last=drop_last)
        loader.place(rank=rank, world_size=world)
        loader.set_epoch(epoch)
        out.append(order_of(loader))
    return out


def test_ddp_shards_are_disjoint_and_cover_the_data_once():
    per_rank = shards(12, 3, 2, drop_last=True)
    assert [len(s) for s in per_rank] == [4, 4, 4]
    assert sorted(i for s in per_rank for i in s) == list(range(12))
    assert shards(12, 3, 2, True, epoch=1) != per_rank


def test_ddp_drop_last_false_pads_to_equal_shards():
    per_rank = shards(10, 3, 4, drop_last=False)  # 10 samples -> 4 per rank, 2 repeated
    assert [len(s) for s in per_rank] == [4, 4, 4]
    counts = Counter(i for s in per_rank for i in s)
    assert set(counts) == set(range(10))
    assert sorted(counts.values()) == [1] * 8 + [2] * 2


def test_ddp_drop_last_true_sees_each_sample_at_most_once():
    per_rank = shards(11, 2, 2, drop_last=True)  # 5 per rank, the 5th of each dropped
    assert [len(s) for s in per_rank] == [4, 4]
    assert len(set(per_rank[0]) | set(per_rank[1])) == 8


def test_state_mid_epoch_continues_with_the_next_batch():
    full = DeviceLoader(table(), 2, seed=2)
    full.set_epoch(4)
    expected = order_of(full)
    loader = DeviceLoader(table(), 2, seed=2)
    loader.set_epoch(4)
    batches = iter(loader)
    seen = [next(batches)["sample_idx"].tolist() for _ in range(2)]
    state = loader.state_dict()
    assert (state["epoch"], state["batches"]) == (4, 2)
    resumed = DeviceLoader(table(), 2, seed=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)  # Lightning sets the same epoch again
    assert flat(seen) + order_of(resumed) == expected
    assert order_of(resumed) != expected[4:]  # then epoch 5


def test_state_at_the_end_of_an_epoch_starts_the_next():
    loader = DeviceLoader(table(), 5, seed=2)
    order_of(loader)
    resumed = DeviceLoader(table(), 5, seed=2)
    resumed.load_state_dict(loader.state_dict())
    assert order_of(resumed) == order_of(loader)  # both at epoch 1


def test_state_of_other_data_is_rejected():
    loader = DeviceLoader(table(10), 2)
    next(iter(loader))
    with pytest.raises(ValueError, match="order has 10 samples but this loader holds 12"):
        DeviceLoader(table(12), 2).load_state_dict(loader.state_dict())


def test_from_dataset_stacks_uint8_images_and_labels():
    data = table(6)
    ds = DictDataset({"image": data["image"], "label": data["label"].tolist()})
    loader = DeviceLoader.from_dataset(ds, batch_size=3, shuffle=False)
    assert sorted(loader.data) == ["image", "label"]
    assert loader.data["image"].dtype == torch.uint8
    assert torch.equal(loader.data["image"], data["image"])
    assert torch.equal(loader.data["label"], data["label"])


def test_from_dataset_reads_pil_images_and_keeps_only_keys():
    pixels = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    pairs = [(Image.fromarray(p), i, "meta") for i, p in enumerate(pixels)]
    ds = FromTorchDataset(pairs, names=["image", "label", "note"])
    loader = DeviceLoader.from_dataset(ds, 2, keys=["image", "label"])
    assert torch.equal(loader.data["image"], torch.from_numpy(pixels).permute(0, 3, 1, 2))
    with pytest.raises(TypeError, match=r"\['note'\] is a str.*keys="):
        DeviceLoader.from_dataset(ds, 2)


def test_from_dataset_errors_name_the_fix():
    with pytest.raises(TypeError, match="FromTorchDataset"):
        DeviceLoader.from_dataset([(torch.zeros(2), 0)], 1)
    ragged = DictDataset({"x": [torch.zeros(2), torch.zeros(3)]})
    with pytest.raises(ValueError, match="'x' has samples of different shapes"):
        DeviceLoader.from_dataset(ragged, 1)
    with pytest.raises(KeyError, match="has no 'y'"):
        DeviceLoader.from_dataset(ragged, 1, keys=["y"])


def test_bad_arguments_are_rejected_early():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DeviceLoader(table(), 0)
    with pytest.raises(ValueError, match="same number of rows"):
        DeviceLoader({"a": torch.zeros(3), "b": torch.zeros(4)}, 1)
    with pytest.raises(TypeError, match=r"data\['a'\] must be a tensor"):
        DeviceLoader({"a": [1, 2]}, 1)
    with pytest.raises(ValueError, match="rank must be in"):
        DeviceLoader(table(), 2).place(rank=2, world_size=2)
    with pytest.raises(ValueError, match="cannot be split over 4 ranks"):
        DeviceLoader(table(3), 1).place(world_size=4)


def test_place_moves_unless_a_device_was_given():
    loader = DeviceLoader(table(), 2).place("meta")
    assert loader.device.type == "meta"
    fixed = DeviceLoader(table(), 2, device="cpu").place("meta")
    assert fixed.device.type == "cpu"


# ---------------------------------------------------------------------------- with Lightning
class Recorder(L.LightningModule):
    """Records each training batch's sample_idx; trains a linear layer with SGD."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(3 * 4 * 4, 3)
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch["sample_idx"].tolist())
        logits = self.layer(batch["image"].float().flatten(1) / 255)
        return nn.functional.cross_entropy(logits, batch["label"])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(ckpt_path=None, callbacks=(), max_epochs=2):
    module = Recorder()
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=bool(callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )
    loader = DeviceLoader(table(20), batch_size=4, seed=7)
    trainer.fit(module, datamodule=DataModule(train=loader), ckpt_path=ckpt_path)
    return module


def test_lightning_sets_the_epoch_of_each_epochs_order():
    module = fit()
    reference = DeviceLoader(table(20), batch_size=4, seed=7)
    assert flat(module.seen) == order_of(reference) + order_of(reference)


def test_lightning_resumes_mid_epoch_at_the_next_batch(tmp_path):
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=7, save_top_k=-1)
    full = fit(callbacks=[saver])
    checkpoint = tmp_path / "epoch=1-step=7.ckpt"  # 5 batches an epoch: epoch 1, batch 2
    assert checkpoint.exists(), sorted(p.name for p in tmp_path.iterdir())
    resumed = fit(ckpt_path=checkpoint)
    assert resumed.seen == full.seen[7:]
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_datamodule_device_resident_builds_loaders_from_datasets():
    data = table(8)
    ds = DictDataset({"image": data["image"], "label": data["label"].tolist()})
    dm = DataModule.device_resident(ds, ds, batch_size=4, val_batch_size=3)
    train, val = dm.train_dataloader(), dm.val_dataloader()
    assert isinstance(train, DeviceLoader)
    assert isinstance(val, DeviceLoader)
    assert (train.shuffle, train.drop_last, val.shuffle, val.drop_last) == (
        True,
        True,
        False,
        False,
    )
    assert len(val) == 3
