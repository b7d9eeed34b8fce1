"""load_dataset, ProductData and the batch iterator."""
import pytest
import torch

from pgan_lib.config import get_mode, pick_device
from pgan_lib.data import BatchIterator, ProductTorchDataset, load_dataset


def test_unknown_source_and_mode_are_clear():
    with pytest.raises(ValueError, match="Unknown data source 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="Unknown run mode 'fast'"):
        get_mode("fast")
    with pytest.raises(ValueError, match="28x28 grey"):
        load_dataset("fashion-mnist", size=64)


def test_take_is_reproducible_and_subset_keeps_alignment(tiny_data):
    a, b = tiny_data.take(10, seed=3), tiny_data.take(10, seed=3)
    assert torch.equal(a.images, b.images) and a.descriptions == b.descriptions
    for i in range(10):
        assert a.descriptions[i].endswith(f"class {int(a.labels[i])}")


def test_epoch_visits_every_item_once(tiny_data):
    it = BatchIterator(tiny_data, batch_size=16, drop_last=False, seed=1)
    seen = torch.cat([b.idx for b in it])
    assert sorted(seen.tolist()) == list(range(len(tiny_data)))
    batch = next(iter(it))
    assert batch.x.dtype == torch.float32 and 0 <= batch.x.min() and batch.x.max() <= 1
    assert torch.equal(batch.x, tiny_data.images[batch.idx].float() / 255)
    assert torch.equal(batch.y, tiny_data.labels[batch.idx])


def test_epochs_differ_and_batches_can_resume_anywhere(tiny_data):
    it = BatchIterator(tiny_data, batch_size=16, seed=1, extra={"code": torch.arange(len(tiny_data)) * 10})
    stream = it.batches(0)
    first = [next(stream).idx for _ in range(9)]
    assert not torch.equal(torch.cat(first[:4]), torch.cat(first[4:8]))  # a new order each epoch
    resumed = it.batches(5)
    for k in range(5, 9):
        b = next(resumed)
        assert torch.equal(b.idx, first[k])
        assert torch.equal(b.extra["code"], b.idx * 10)


def test_torch_dataset_view(tiny_data):
    ds = ProductTorchDataset(tiny_data)
    x, y, text = ds[3]
    assert x.shape == (1, 8, 8) and y == int(tiny_data.labels[3]) and text == tiny_data.descriptions[3]
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    xb, yb, texts = next(iter(loader))
    assert xb.shape == (8, 1, 8, 8) and len(texts) == 8


def test_device_choice(monkeypatch, capsys):
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("PGAN_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
            pick_device("cuda")
