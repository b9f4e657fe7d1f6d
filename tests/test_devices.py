from __future__ import annotations

import json
import platform
from types import SimpleNamespace

import pytest
import torch

from rlkit import devices
from rlkit.devices import (
    DeviceNotAvailableError,
    DeviceReport,
    library_versions,
    machine_info,
    select_device,
    set_threads,
)

H100 = "NVIDIA H100 80GB HBM3"


@pytest.fixture
def no_gpu(monkeypatch):
    """A CPU-only machine with a CPU-only torch build."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: False)


def fake_cuda(monkeypatch, names, current=0):
    props = [SimpleNamespace(name=n, total_memory=80 * 1024**3, major=9, minor=0) for n in names]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(names))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(names))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props[i])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    monkeypatch.setattr(torch.version, "cuda", "12.4")


def fake_mps(monkeypatch, available):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: available)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)


def test_auto_falls_back_to_cpu_and_says_why(no_gpu):
    device, report = select_device("auto")
    assert device == torch.device("cpu")
    assert report.selected == "cpu" and report.requested == "auto"
    assert report.fell_back is True
    assert report.reason == (
        "auto: no CUDA device visible (torch built without CUDA) and no MPS "
        "(torch built without MPS); using cpu"
    )
    assert select_device()[1].reason == report.reason  # "auto" is the default


def test_auto_prefers_cuda(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, [H100])
    fake_mps(monkeypatch, True)
    device, report = select_device("auto")
    assert device == torch.device("cuda", 0)
    assert report.selected == "cuda:0" and report.fell_back is False
    assert H100 in report.reason
    assert report.cuda_available and report.cuda_version == "12.4"
    assert report.cuda_devices == [
        {"index": 0, "name": H100, "total_memory_gb": 80.0, "capability": "9.0"}
    ]


def test_auto_uses_current_cuda_device(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, ["A", "B"], current=1)
    device, report = select_device("auto")
    assert device == torch.device("cuda", 1) and report.selected == "cuda:1"
    assert select_device("cuda")[0] == torch.device("cuda", 1)


def test_auto_falls_back_to_mps(monkeypatch, no_gpu):
    fake_mps(monkeypatch, True)
    device, report = select_device("auto")
    assert device == torch.device("mps")
    assert report.fell_back is True
    assert "no CUDA device visible (torch built without CUDA)" in report.reason
    assert report.reason.endswith("using mps")


def test_explicit_cuda_index_that_does_not_exist(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, [H100])
    with pytest.raises(DeviceNotAvailableError) as info:
        select_device("cuda:1")
    assert str(info.value) == (
        f"requested cuda:1 but this machine has 1 CUDA device (cuda:0: {H100}); "
        "valid: cpu, cuda, cuda:0"
    )
    assert isinstance(info.value, RuntimeError)


def test_explicit_cuda_on_cpu_machine(no_gpu):
    with pytest.raises(DeviceNotAvailableError) as info:
        select_device("cuda")
    assert str(info.value) == (
        "requested cuda but this machine has no CUDA device (torch built without CUDA); valid: cpu"
    )
    with pytest.raises(DeviceNotAvailableError, match=r"valid: cpu$"):
        select_device(torch.device("cuda", 0))


def test_explicit_cuda_with_cuda_build_but_hidden_devices(monkeypatch, no_gpu):
    monkeypatch.setattr(torch.version, "cuda", "12.1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(DeviceNotAvailableError, match="CUDA_VISIBLE_DEVICES=''"):
        select_device("cuda")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(DeviceNotAvailableError, match="no GPU or driver found"):
        select_device("cuda:0")


def test_explicit_mps_missing_lists_what_exists(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, ["A", "B"])
    fake_mps(monkeypatch, False)
    with pytest.raises(DeviceNotAvailableError) as info:
        select_device("mps")
    message = str(info.value)
    assert "MPS is not available" in message and "Apple silicon" in message
    assert message.endswith("valid: cpu, cuda, cuda:0, cuda:1")


def test_explicit_devices_that_exist(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, ["A", "B"])
    fake_mps(monkeypatch, True)
    device, report = select_device("cuda:1")
    assert device == torch.device("cuda", 1)
    assert (report.selected, report.fell_back) == ("cuda:1", False)
    assert "B" in report.reason
    assert select_device(" CUDA:0 ")[0] == torch.device("cuda", 0)
    assert select_device(torch.device("cuda:1"))[0] == torch.device("cuda", 1)
    assert select_device("mps")[0] == torch.device("mps")
    device, report = select_device("cpu")
    assert device == torch.device("cpu") and report.reason == "cpu requested explicitly"
    assert select_device(torch.device("cpu"))[0] == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", "cuda:", "mps:0", "cpu:1", "", "tpu"])
def test_malformed_requests(bad, no_gpu):
    with pytest.raises(ValueError, match=r"valid forms: 'auto', 'cpu', 'cuda', 'cuda:N'"):
        select_device(bad)


def test_unsupported_types():
    with pytest.raises(ValueError, match="unsupported device type 'meta'"):
        select_device(torch.device("meta"))
    with pytest.raises(TypeError, match=r"string or torch\.device"):
        select_device(0)  # type: ignore[arg-type]


def test_report_fields_and_text(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, [H100, "NVIDIA A100-SXM4-40GB"])
    _, report = select_device("cuda:0")
    text = str(report)
    assert report.cpu_model and report.cpu_model in text
    assert report.torch_version in text
    assert H100 in text and "cuda:1: NVIDIA A100-SXM4-40GB" in text
    assert f"{report.torch_threads} intra-op" in text
    assert report.torch_threads == torch.get_num_threads()
    assert report.torch_interop_threads == torch.get_num_interop_threads()
    assert len(text.splitlines()) >= 8
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert DeviceReport(**data) == report


def test_cpu_model_from_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Test CPU 9000 @ 3GHz\n")
    assert devices._cpu_model(str(cpuinfo)) == "Test CPU 9000 @ 3GHz"
    monkeypatch.setattr(platform, "processor", lambda: "fallback-proc")
    assert devices._cpu_model(str(tmp_path / "missing")) == "fallback-proc"
    cpuinfo.write_text("processor\t: 0\n")
    assert devices._cpu_model(str(cpuinfo)) == "fallback-proc"


def test_report_cpu_model_matches_proc_cpuinfo(no_gpu):
    _, report = select_device("cpu")
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    except OSError:
        names = []
    if names:
        assert report.cpu_model == names[0]
    assert report.cpu_cores is None or report.cpu_cores >= 1
    assert report.cpu_model in str(report)


def test_machine_info_is_json_and_private(monkeypatch, no_gpu):
    fake_cuda(monkeypatch, [H100])
    info = machine_info()
    assert json.loads(json.dumps(info)) == info
    for key in ("cpu_model", "cpu_cores", "platform", "python", "torch", "numpy", "gymnasium"):
        assert info[key], key
    assert "vizdoom" in info  # a version string, or None where ViZDoom is not installed
    assert info["cuda_devices"][0]["name"] == H100
    assert not any("host" in key for key in info)
    node = platform.node()
    if len(node) >= 4:
        assert node not in json.dumps(info)


def test_library_versions():
    versions = library_versions()
    assert set(versions) == {"python", "rlkit", "torch", "numpy", "gymnasium", "vizdoom"}
    assert versions["torch"] == torch.__version__


def test_set_threads_returns_previous():
    original = torch.get_num_threads()
    try:
        assert set_threads(1) == original
        assert torch.get_num_threads() == 1
        assert set_threads(2) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ValueError, match=">= 1"):
            set_threads(bad)  # type: ignore[arg-type]
    assert torch.get_num_threads() == original
