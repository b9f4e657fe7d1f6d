from __future__ import annotations

import json
import os
import pickle
import random
import re
import signal
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.serialization

from rlkit.checkpoints import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    check_compatible,
    cleanup_temp_files,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from rlkit.devices import DeviceNotAvailableError
from rlkit.envs import EnvSpec
from rlkit.errors import UserError
from rlkit.models import ActorCritic, ImageQNetwork, MLPQNetwork

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "checkpoints" / "vizdoom_simpler_basic" / "checkpoint.pt"
ENV = EnvSpec("vizdoom:basic", (1, 30, 45), "uint8", ("L", "R", "F"), {"frame_skip": 4})


def _metadata(**progress):
    return {
        "config": {"lr": 1e-4, "gamma": 0.99, "layers": (8, 16)},
        "env_spec": ENV.to_dict(),
        "progress": {"env_steps": 1000, "updates": 10, "episodes": 3, "epsilon": 0.5, **progress},
    }


@pytest.fixture
def net():
    torch.manual_seed(0)
    return ImageQNetwork((1, 30, 45), 3)


@pytest.fixture
def saved(tmp_path, net):
    path = save_checkpoint(tmp_path / "ckpt.pt", model=net, metadata=_metadata())
    return path, net


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------ round trip


def test_round_trip_weights_metadata_and_extra_state(tmp_path, net):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (4, 1, 30, 45), dtype=torch.uint8)
    net(x).sum().backward()
    opt.step()
    target = ImageQNetwork((1, 30, 45), 3)
    rng = np.random.default_rng(7)
    random.seed(3)
    torch_state, py_state = torch.get_rng_state(), random.getstate()
    expected_torch, expected_py = torch.rand(3), random.random()
    extra = {
        "optimizer": opt.state_dict(),
        "target": target.state_dict(),
        "rng": {
            "torch": torch_state,
            "numpy": rng.bit_generator.state,
            "python": py_state,
        },
        "step": np.int64(5),
    }
    path = save_checkpoint(tmp_path / "deep" / "dir" / "ckpt.pt", model=net, metadata=_metadata(),
                           extra_state=extra)  # fmt: skip
    assert path == tmp_path / "deep" / "dir" / "ckpt.pt" and path.is_file()

    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint) and ckpt.path == path
    assert ckpt.state_dict.keys() == net.state_dict().keys()
    for key, value in net.state_dict().items():
        assert torch.equal(ckpt.state_dict[key], value)
    meta = ckpt.metadata
    assert meta["config"] == {"lr": 1e-4, "gamma": 0.99, "layers": [8, 16]}
    assert meta["env_spec"] == ENV.to_dict() and ckpt.env_spec == ENV
    assert meta["progress"]["epsilon"] == 0.5 and ckpt.progress["env_steps"] == 1000
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["created_at"].endswith("+00:00")
    assert set(meta["library_versions"]) >= {"rlkit", "torch", "numpy", "gymnasium", "vizdoom"}
    assert meta["library_versions"]["torch"] == torch.__version__
    assert meta["model_spec"] == net.spec == ckpt.model_spec

    # optimizer state restores into a fresh optimizer and continues identically
    twin = ImageQNetwork((1, 30, 45), 3)
    twin.load_state_dict(ckpt.state_dict)
    opt2 = torch.optim.Adam(twin.parameters(), lr=1e-3)
    opt2.load_state_dict(ckpt.extra_state["optimizer"])
    for model, optimizer in ((net, opt), (twin, opt2)):
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    for key, value in target.state_dict().items():
        assert torch.equal(ckpt.extra_state["target"][key], value)

    # RNG states restore
    rng_state = ckpt.extra_state["rng"]
    torch.set_rng_state(rng_state["torch"])
    assert torch.equal(torch.rand(3), expected_torch)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = rng_state["numpy"]
    assert rng2.random() == rng.random()
    random.setstate(rng_state["python"])
    assert random.random() == expected_py
    assert ckpt.extra_state["step"] == 5


def test_sidecar_json(saved):
    path, net = saved
    sidecar = path.with_name("ckpt.pt.json")
    data = json.loads(sidecar.read_text())
    assert data["checkpoint"] == "ckpt.pt"
    assert data["metadata"] == load_checkpoint(path).metadata
    assert data["state_dict"]["elements"] == sum(v.numel() for v in net.state_dict().values())
    assert data["size_bytes"] == path.stat().st_size


def test_no_sidecar_and_state_dict_input(tmp_path, net):
    path = save_checkpoint(tmp_path / "a.pt", model=net.state_dict(), metadata={}, sidecar=False)
    assert not (tmp_path / "a.pt.json").exists()
    ckpt = load_checkpoint(path)
    assert ckpt.model_spec is None and ckpt.extra_state == {}
    with pytest.raises(CheckpointError, match="no model_spec"):
        load_model(path)


def test_file_mode_follows_umask(saved):
    path, _ = saved
    umask = os.umask(0)
    os.umask(umask)
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_metadata_conversion_and_rejection(tmp_path, net):
    meta = {"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(3), "p": tmp_path / "f",
            "t": torch.tensor([1.5]), 7: "int key", "nan": float("nan")}  # fmt: skip
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model=net, metadata=meta))
    m = ckpt.metadata
    assert (m["n"], m["x"], m["a"], m["p"], m["t"], m["7"]) == (
        3, 0.5, [0, 1, 2], str(tmp_path / "f"), [1.5], "int key"
    )  # fmt: skip
    assert np.isnan(m["nan"])
    with pytest.raises(TypeError, match=r"metadata\['config'\]\['env'\].*object"):
        save_checkpoint(tmp_path / "m.pt", model=net, metadata={"config": {"env": object()}})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        save_checkpoint(tmp_path / "m.pt", model=net, metadata=[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"differs from model\.spec"):
        save_checkpoint(tmp_path / "m.pt", model=net, metadata={"model_spec": {"class": "X"}})


def test_numpy_arrays_in_extra_state_become_tensors(tmp_path, net):
    obs = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    frozen = np.ones(3, dtype=np.float32)
    frozen.flags.writeable = False
    buffer = {"obs": obs[:, ::-1], "dones": np.array([True, False]), "frozen": frozen,
              "alpha": np.array(0.6), "pos": np.int64(7)}  # fmt: skip
    path = save_checkpoint(tmp_path / "b.pt", model=net, metadata={}, extra_state={"buf": buffer})
    state = load_checkpoint(path).extra_state["buf"]
    assert isinstance(state["obs"], torch.Tensor) and state["obs"].dtype == torch.uint8
    np.testing.assert_array_equal(state["obs"].numpy(), obs[:, ::-1])
    assert state["dones"].dtype == torch.bool and float(state["alpha"]) == pytest.approx(0.6)
    np.testing.assert_array_equal(np.asarray(state["frozen"]), frozen)
    assert state["pos"] == 7 and type(state["pos"]) is int


def test_extra_state_rejects_objects(tmp_path, net):
    with pytest.raises(TypeError, match=r"extra_state\['rng'\]\['np'\].*dtype <U1"):
        save_checkpoint(tmp_path / "e.pt", model=net, metadata={},
                        extra_state={"rng": {"np": np.array(["a"])}})  # fmt: skip
    with pytest.raises(TypeError, match="cannot store"):
        save_checkpoint(tmp_path / "e.pt", model=net, metadata={}, extra_state={"f": print})
    assert not (tmp_path / "e.pt").exists()
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ safety


class _Marker:
    """Unpickling this would create a file: proof that code from a checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_object_is_refused_without_running_it(tmp_path):
    # Control: an ordinary unpickler really does run the payload.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Marker(control))).close()
    assert control.exists()

    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": "rlkit-checkpoint", "format_version": 1, "metadata_json": "{}",
                "state_dict": {"w": torch.ones(2)}, "extra_state": {"x": _Marker(marker)}},
               path)  # fmt: skip
    with pytest.raises(CheckpointError, match="contains executable pickled objects") as info:
        load_checkpoint(path)
    assert "evil.pt" in str(info.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="contains executable pickled objects"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("form", ["zip", "legacy", "plain-pickle"])
def test_code_in_any_pickle_form_is_named_as_such_and_never_runs(tmp_path, form):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    payload = {"format": "rlkit-checkpoint", "x": _Marker(marker)}
    if form == "plain-pickle":
        path.write_bytes(pickle.dumps(payload, protocol=4))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=form == "zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's note on the pickle protocol
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
    message = str(info.value)
    # open pickles as io.open or builtins.open depending on the protocol
    named = r"contains executable pickled objects \((io|builtins)\.open\) and was not loaded"
    assert re.search(named, message)
    assert "weights_only" not in message and "corrupt" not in message
    assert len(message.splitlines()) == 1 and not marker.exists()


def test_pickled_function_is_refused(tmp_path):
    path = tmp_path / "fn.pt"
    torch.save({"format": "rlkit-checkpoint", "fn": _leftovers}, path)
    with pytest.raises(CheckpointError, match=r"test_checkpoints\._leftovers"):
        load_checkpoint(path)


def test_truncated_files(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    for n in (0, 1, 64, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        bad = tmp_path / f"cut{n}.pt"
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match=f"cut{n}.pt") as info:
            load_checkpoint(bad)
        assert "weights_only=False" not in str(info.value)  # never advise the unsafe route


def test_garbage_and_foreign_files(tmp_path, net):
    for name, content in [("noise", os.urandom(4096)), ("text", b"hello world, not torch"),
                          ("json", b'{"a": 1}')]:  # fmt: skip
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(CheckpointError, match="could not be read as a PyTorch file"):
            load_checkpoint(bad)
    bare = tmp_path / "bare.pt"
    torch.save(net.state_dict(), bare)
    with pytest.raises(CheckpointError, match=r"not an rlkit checkpoint.*trunk\.net\.0\.weight"):
        load_checkpoint(bare)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), tensor)
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_checkpoint(tensor)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)


@pytest.mark.slow
def test_an_onnx_file_is_not_a_checkpoint_and_the_reverse(exported_onnx, shipped_checkpoint):
    pytest.importorskip("onnxruntime")
    from rlkit.player import OnnxPolicy, PlayerError

    onnx_path, _ = exported_onnx
    with pytest.raises(CheckpointError, match="it is an ONNX model, not a checkpoint") as info:
        load_checkpoint(onnx_path)
    assert "corrupt" not in str(info.value)
    with pytest.raises(PlayerError, match="is a PyTorch checkpoint, not an ONNX model"):
        OnnxPolicy(shipped_checkpoint)


def test_flipped_bits_in_tensor_data_are_detected(saved, tmp_path):
    path, _ = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data/0"))
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len + 4] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC-32"):
        load_checkpoint(bad)
    load_checkpoint(bad, verify=False)  # torch.load alone would not notice


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": "rlkit-checkpoint", "format_version": FORMAT_VERSION + 1,
                "metadata_json": "{}", "state_dict": {}, "extra_state": {}}, path)  # fmt: skip
    with pytest.raises(CheckpointError, match="newer rlkit"):
        load_checkpoint(path)


# ------------------------------------------------------------------------------ map_location


def test_map_location_variants(saved):
    path, _ = saved
    for loc in ("cpu", torch.device("cpu"), lambda storage, _tag: storage, {"cpu": "cpu"}):
        ckpt = load_checkpoint(path, map_location=loc)
        assert all(t.device.type == "cpu" for t in ckpt.state_dict.values())
    meta = load_checkpoint(path, map_location="meta")
    assert all(t.device.type == "meta" for t in meta.state_dict.values())


def test_cuda_tagged_checkpoint_loads_on_cpu(tmp_path, net, monkeypatch):
    """Write a file whose storages say 'cuda:0' (as a GPU run would) and open it on the CPU."""
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        path = save_checkpoint(tmp_path / "gpu.pt", model=net, metadata={})
    with zipfile.ZipFile(path) as archive:
        pickled = next(archive.read(n) for n in archive.namelist() if n.endswith("data.pkl"))
    assert b"cuda:0" in pickled
    ckpt = load_checkpoint(path)  # default map_location="cpu"
    assert all(t.device.type == "cpu" for t in ckpt.state_dict.values())
    for key, value in net.state_dict().items():
        assert torch.equal(ckpt.state_dict[key], value)
    model, _ = load_model(path)
    assert next(model.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(CheckpointError, match="map_location='cpu'"):
            load_checkpoint(path, map_location=None)


# ------------------------------------------------------------------------------ compatibility


def test_env_spec_reads_back_as_envspec(tmp_path, net):
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "n.pt", model=net, metadata={}))
    assert ckpt.env_spec is None
    damaged = {**ENV.to_dict()}
    del damaged["observation_dtype"]
    path = save_checkpoint(tmp_path / "d.pt", model=net, metadata={"env_spec": damaged})
    with pytest.raises(CheckpointError, match=r"d\.pt has a damaged env_spec.*observation_dtype"):
        _ = load_checkpoint(path).env_spec
    path = save_checkpoint(tmp_path / "s.pt", model=net, metadata={"env_spec": "vizdoom:basic"})
    with pytest.raises(CheckpointError, match=r"env_spec in its metadata \(it is a str, not"):
        _ = load_checkpoint(path).env_spec


def test_shipped_checkpoint_has_an_envspec():
    spec = load_checkpoint(SHIPPED).env_spec
    assert isinstance(spec, EnvSpec) and spec.env_id == "vizdoom:simpler_basic"
    assert spec.observation_shape == (1, 30, 45) and len(spec.action_names) == 3


def test_check_compatible_env_messages(saved):
    path, net = saved
    ckpt = load_checkpoint(path)
    assert check_compatible(ckpt, model=net, env_spec=ENV) is None
    with pytest.raises(CheckpointError) as info:
        check_compatible(ckpt, env_spec=replace(ENV, observation_shape=(1, 60, 80)))
    assert (
        "checkpoint was trained on observation shape (1, 30, 45) but the environment gives "
        "(1, 60, 80)"
    ) in str(info.value)
    with pytest.raises(CheckpointError) as info:
        check_compatible(ckpt, env_spec=replace(ENV, action_names=("L", "R", "USE")))
    assert "action names differ: checkpoint ['L', 'R', 'F'] vs env ['L', 'R', 'USE']" in str(
        info.value
    )
    other = replace(ENV, env_id="other", env_kwargs={"frame_skip": 1})
    check_compatible(ckpt, env_spec=other)  # ids (and env_kwargs) are not compared by default
    with pytest.raises(CheckpointError, match="trained on 'vizdoom:basic' but the environment"):
        check_compatible(ckpt, env_spec=other, check_id=True)


def test_check_compatible_rejects_other_action_count_and_shape_naming_both(saved):
    path, _ = saved
    env = replace(ENV, observation_shape=(3, 60, 80), action_names=("A", "B"))
    with pytest.raises(CheckpointError) as info:
        check_compatible(load_checkpoint(path), env_spec=env)
    text = str(info.value)
    assert text.startswith(f"checkpoint {path} is not compatible: ")
    assert "observation shape (1, 30, 45) but the environment gives (3, 60, 80)" in text
    assert (
        "checkpoint has 3 actions ['L', 'R', 'F'] but the environment has 2 actions ['A', 'B']"
    ) in text
    assert "action names differ" not in text  # the count says it already


def test_check_compatible_env_spec_is_an_envspec(tmp_path, saved, net):
    path, _ = saved
    ckpt = load_checkpoint(path)
    with pytest.raises(TypeError, match=r"must be an rlkit\.envs\.EnvSpec, got dict"):
        check_compatible(ckpt, env_spec=ENV.to_dict())  # type: ignore[arg-type]
    bare = load_checkpoint(save_checkpoint(tmp_path / "bare.pt", model=net, metadata={}))
    with pytest.raises(CheckpointError, match="records no env_spec"):
        check_compatible(bare, env_spec=ENV)


def test_errors_are_user_errors():
    # The command line prints these as one line (see rlkit.cli.main); the built-in bases stay.
    assert issubclass(CheckpointError, UserError) and issubclass(CheckpointError, ValueError)
    assert issubclass(DeviceNotAvailableError, UserError)
    assert issubclass(DeviceNotAvailableError, RuntimeError)


def test_check_compatible_model_messages(saved):
    path, _ = saved
    ckpt = load_checkpoint(path)
    with pytest.raises(CheckpointError) as info:
        check_compatible(ckpt, model=ImageQNetwork((1, 30, 45), 4))
    text = str(info.value)
    assert "parameter shapes differ" in text
    assert "head.advantage.1.weight: checkpoint (3, 32) vs model (4, 32)" in text
    with pytest.raises(CheckpointError) as info:
        check_compatible(ckpt, model=ImageQNetwork((1, 30, 45), 3, dueling=False))
    text = str(info.value)
    assert "keys missing from the checkpoint: head.q.0.0.weight" in text
    assert "unexpected keys in the checkpoint: head.value.0.0.weight" in text
    assert "(8 in all)" in text  # long key lists are cut after a few
    with pytest.raises(CheckpointError, match="holds a ImageQNetwork but the model is a MLPQ"):
        check_compatible(ckpt, model=MLPQNetwork(4, 3))


# ------------------------------------------------------------------------------ load_model


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: ImageQNetwork((1, 30, 45), 3), torch.randint(0, 256, (2, 1, 30, 45)).byte()),
        (lambda: MLPQNetwork(4, 2, dueling=True), torch.randn(2, 4)),
        (lambda: ActorCritic((1, 30, 45), 3), torch.randint(0, 256, (2, 1, 30, 45)).byte()),
    ],
)
def test_load_model_round_trip(tmp_path, make, x):
    torch.manual_seed(0)
    net = make()
    path = save_checkpoint(tmp_path / "m.pt", model=net, metadata={})
    model, ckpt = load_model(path, device="cpu" if isinstance(net, ActorCritic) else "auto")
    assert type(model) is type(net) and ckpt.model_spec == net.spec
    a, b = net(x), model(x)
    for u, v in zip(_as_tuple(a), _as_tuple(b), strict=True):
        assert torch.equal(u, v)


def test_load_model_errors(tmp_path, net, monkeypatch):
    other = ImageQNetwork((1, 30, 45), 5)
    path = save_checkpoint(tmp_path / "x.pt", model=other.state_dict(),
                           metadata={"model_spec": net.spec})  # fmt: skip
    with pytest.raises(CheckpointError, match="parameter shapes differ"):
        load_model(path)
    bad_spec = save_checkpoint(tmp_path / "y.pt", model={}, metadata={"model_spec": {"class": 1}})
    with pytest.raises(CheckpointError, match="cannot rebuild the model"):
        load_model(bad_spec)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(DeviceNotAvailableError, match="requested cuda"):
        load_model(path, device="cuda")


# ------------------------------------------------------------------------------ atomicity


def test_exception_mid_save_keeps_previous_checkpoint(saved, monkeypatch):
    path, _ = saved
    before = path.read_bytes()
    real_save = torch.save

    def half_then_crash(obj, f, *args, **kwargs):
        import io

        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("No space left on device (simulated)")

    monkeypatch.setattr(torch, "save", half_then_crash)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model=ImageQNetwork((1, 30, 45), 3), metadata=_metadata(step=2))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path).metadata["progress"]["env_steps"] == 1000
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt", "ckpt.pt.json"]


@pytest.mark.slow
def test_sigkill_mid_save_keeps_previous_checkpoint(saved):
    """A process killed while writing leaves the old file intact plus one documented temp file."""
    path, net = saved
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import sys, time, torch
        from rlkit.checkpoints import save_checkpoint
        from rlkit.models import ImageQNetwork

        def slow_save(obj, f, *args, **kwargs):
            f.write(b"PK" + b"x" * 100_000)  # a partial file
            f.flush()
            print("writing", flush=True)
            time.sleep(60)

        torch.save = slow_save
        save_checkpoint({str(path)!r}, model=ImageQNetwork((1, 30, 45), 3), metadata={{}})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"writing"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    assert path.read_bytes() == before
    ckpt = load_checkpoint(path)
    for key, value in net.state_dict().items():
        assert torch.equal(ckpt.state_dict[key], value)
    leftovers = _leftovers(path.parent)
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".ckpt.pt.") and leftovers[0].endswith(".tmp")
    unrelated = path.parent / ".ckpt.pt.bak.123.0123abcd.tmp"  # another file's temporary
    unrelated.write_bytes(b"")
    assert cleanup_temp_files(path) == [path.parent / leftovers[0]]
    unrelated.unlink()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt", "ckpt.pt.json"]


def test_cleanup_keeps_the_temporary_of_a_save_still_running(saved):
    path, _ = saved
    mine = path.parent / f".ckpt.pt.{os.getpid()}.0123abcd.tmp"  # this process: maybe saving
    mine.write_bytes(b"")
    assert cleanup_temp_files(path) == [] and mine.exists()


def test_overwrite_replaces_file(saved):
    path, net = saved
    save_checkpoint(path, model=net, metadata=_metadata(env_steps=2000))
    assert load_checkpoint(path).progress["env_steps"] == 2000
    assert (
        json.loads(path.with_name("ckpt.pt.json").read_text())["metadata"]["progress"]["env_steps"]
        == 2000
    )
    assert _leftovers(path.parent) == []
