"""gm.backends() on a machine where genmetrics._cuda is built but sees no GPU (issue 18, item 2): the reason tells a
missing NVIDIA driver from one too old for the CUDA major the module was built with (the CUDA runtime's own error,
"CUDA driver version is insufficient for CUDA runtime version", is the same for both)."""

from __future__ import annotations

import pytest

from genmetrics import engine

INSUFFICIENT = "CUDA driver version is insufficient for CUDA runtime version"


@pytest.mark.parametrize(
    ("driver", "built", "says"),
    [
        (None, 13000, ["no NVIDIA driver is installed", "libcuda.so.1", "CUDA 13.0", ">= 580"]),
        (12040, 13000, ["supports CUDA 12.4", "older than the CUDA 13.0", ">= 580", "genmetrics-cu12"]),
        (11080, 12040, ["supports CUDA 11.8", "older than the CUDA 12.4", ">= 525"]),
        (13010, 13000, ["NVIDIA driver for CUDA 13.1", "module built with CUDA 13.0"]),
    ],
)
def test_no_gpu_reason_tells_missing_from_old_driver(monkeypatch, driver, built, says):
    monkeypatch.setattr(engine, "_driver_cuda_version", lambda: driver)
    reason = engine._no_gpu_reason(INSUFFICIENT, built)
    for words in says:
        assert words in reason, reason
    assert INSUFFICIENT in reason  # the runtime's own words are kept


def test_driver_probe_needs_no_gpu():
    version = engine._driver_cuda_version()  # None here without a driver; an int where one is installed
    assert version is None or isinstance(version, int)
