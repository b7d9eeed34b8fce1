"""Devices are checked against what this machine has: one clear error, never a torch traceback later."""
from __future__ import annotations

import pytest
import torch

from pgan_lib.config import DeviceError, available_devices, check_device, pick_device


def test_cpu_is_always_available():
    assert "cpu" in available_devices()
    assert check_device("cpu").type == "cpu"


@pytest.mark.parametrize("name", ["nonsense", "cuda:x", "gpu", "", "cpu:0:1", "xla"])
def test_a_name_that_is_no_device_is_refused_with_the_list(name):
    if name == "":
        pytest.skip("an empty name means 'choose automatically'")
    with pytest.raises(DeviceError, match=r"this machine has: cpu"):
        check_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_without_a_gpu_is_refused(name):
    with pytest.raises(DeviceError, match=r"no usable CUDA GPU .*Use --device cpu"):
        pick_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_index_beyond_the_count_is_refused():
    with pytest.raises(DeviceError, match="does not exist"):
        check_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif("mps" in available_devices(), reason="this machine has an Apple GPU")
def test_mps_where_there_is_none_is_refused():
    with pytest.raises(DeviceError, match="not available on this machine"):
        pick_device("mps")


def test_device_errors_are_value_errors_for_callers_that_catch_those(monkeypatch):
    monkeypatch.setenv("PGAN_DEVICE", "nonsense")
    with pytest.raises(ValueError):
        pick_device()
