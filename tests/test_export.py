"""``rlkit export`` and playing its file: round trip, metadata, file kinds, errors, CUDA files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlkit.cli import main


def _one_error_line(err: str) -> str:
    assert err.startswith("rlkit: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _plain_onnx(path) -> None:
    """An ONNX model that rlkit did not write: one Identity node, no rlkit metadata."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # one every onnxruntime ≥ 1.17 reads
    onnx.save(model, str(path))


# -- the file ----------------------------------------------------------------------------------
@pytest.mark.slow  # exports and plays 100 ViZDoom observations (the session fixture)
def test_export_round_trip_picks_the_same_actions(exported_onnx):
    path, report = exported_onnx
    assert report.observations == 100 and report.agreement == 1.0
    assert report.max_abs_diff < 1e-4
    assert report.path == str(path) and report.size_bytes == path.stat().st_size > 10_000
    # One file: the weights are inside, no .onnx.data next to it.
    assert sorted(p.name for p in path.parent.iterdir()) == ["agent.onnx"]


@pytest.mark.slow  # uses the exported file
def test_the_file_describes_its_env_and_actions(exported_onnx, shipped_checkpoint):
    import onnx

    from rlkit.checkpoints import load_checkpoint
    from rlkit.player import OnnxPolicy

    path, _ = exported_onnx
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    data = json.loads(meta["rlkit"])
    ckpt = load_checkpoint(shipped_checkpoint)
    assert data["format"] == "rlkit-onnx" and data["format_version"] == 1
    assert data["env_spec"] == ckpt.env_spec.to_dict()
    assert data["env_spec"]["action_names"] == ["MOVE_LEFT", "MOVE_RIGHT", "ATTACK"]
    assert data["input"] == {"name": "obs", "dtype": "uint8", "shape": ["batch", 1, 30, 45]}
    assert data["output"]["name"] == "q_values"

    policy = OnnxPolicy(path)
    assert policy.env_spec == ckpt.env_spec
    assert policy.session.get_inputs()[0].type == "tensor(uint8)"
    obs = np.zeros((5, 1, 30, 45), dtype=np.uint8)
    assert policy.q_values(obs).shape == (5, 3)  # the batch axis is dynamic


def test_file_kind_reads_the_content_not_the_name(tmp_path, shipped_checkpoint):
    from rlkit.player import PlayerError, file_kind

    assert file_kind(shipped_checkpoint) == "checkpoint"
    onnx_named_pt = tmp_path / "model.pt"
    _plain_onnx(onnx_named_pt)
    assert file_kind(onnx_named_pt) == "onnx"
    text = tmp_path / "notes.onnx"
    text.write_text("hello")
    with pytest.raises(PlayerError, match="neither an rlkit checkpoint"):
        file_kind(text)
    with pytest.raises(FileNotFoundError):
        file_kind(tmp_path / "missing.onnx")


def test_an_onnx_file_rlkit_did_not_write_is_one_sentence(tmp_path, capsys):
    path = tmp_path / "plain.onnx"
    _plain_onnx(path)
    assert main(["play", "--checkpoint", str(path)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"{path} is an ONNX model but not one rlkit exported" in err


# -- playing both kinds --------------------------------------------------------------------------
@pytest.mark.slow  # plays ViZDoom
def test_play_plays_both_kinds_to_the_same_scores(exported_onnx, shipped_checkpoint, capsys):
    records = {}
    for path in (exported_onnx[0], shipped_checkpoint):
        assert main(["play", "--checkpoint", str(path), "--episodes", "2", "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        records[record["kind"]] = record
    assert set(records) == {"onnx", "checkpoint"}
    for r in records.values():
        assert r["env_id"] == "vizdoom:simpler_basic" and r["policy"] == "greedy"
        assert r["stats"]["episodes"] == 2 and len(r["scores"]) == 2
        assert r["window"] is False and r["realtime"] is False
    # Same network, same seeds: the same game.
    assert records["onnx"]["scores"] == records["checkpoint"]["scores"]


# -- a checkpoint written on a GPU machine, read on a CPU-only one -------------------------------
@pytest.fixture
def cuda_tagged_checkpoint(tmp_path, monkeypatch, shipped_checkpoint):
    """The shipped checkpoint saved again with every tensor storage recorded as on ``cuda:0``,
    which is what torch.save writes for CUDA tensors (torch asks ``location_tag`` per storage)."""
    import torch.serialization

    from rlkit.checkpoints import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(shipped_checkpoint)
    path = tmp_path / "gpu.pt"
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save_checkpoint(path, model=ckpt.state_dict, metadata=ckpt.metadata, sidecar=False)
    return path, ckpt


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_the_simulated_file_really_asks_for_cuda(cuda_tagged_checkpoint):
    path, _ = cuda_tagged_checkpoint
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)  # torch's own default: back where it was saved


@pytest.mark.parametrize("where", ["cpu", {"cuda:0": "cpu"}, torch.device("cpu")])
def test_a_cuda_checkpoint_loads_on_the_cpu(cuda_tagged_checkpoint, where):
    from rlkit.checkpoints import load_checkpoint

    path, original = cuda_tagged_checkpoint
    ckpt = load_checkpoint(path, map_location=where)
    assert ckpt.state_dict.keys() == original.state_dict.keys()
    for name, tensor in ckpt.state_dict.items():
        assert tensor.device.type == "cpu", name
        assert torch.equal(tensor, original.state_dict[name]), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_checkpoint_without_map_location_says_how_to_load_it(cuda_tagged_checkpoint):
    from rlkit.checkpoints import CheckpointError, load_checkpoint

    path, _ = cuda_tagged_checkpoint
    with pytest.raises(CheckpointError, match="map_location='cpu'"):
        load_checkpoint(path, map_location=None)


@pytest.mark.slow  # plays ViZDoom
def test_play_and_load_model_take_a_cuda_checkpoint(cuda_tagged_checkpoint, capsys):
    from rlkit.checkpoints import load_model

    path, original = cuda_tagged_checkpoint
    model, _ = load_model(path)  # the default device is the CPU
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, original.state_dict[name])
    assert main(["play", "--checkpoint", str(path), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["episodes"] == 2


# -- the export command --------------------------------------------------------------------------
@pytest.mark.slow  # exports (without the comparison, which the session fixture covers)
def test_export_command_prints_the_report(shipped_checkpoint, tmp_path, capsys):
    out = tmp_path / "deep" / "agent.onnx"  # the folder is created
    argv = ["export", "--checkpoint", str(shipped_checkpoint), "--out", str(out), "--check", "0"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["format"] == "onnx" and record["path"] == str(out)
    assert record["size_bytes"] == out.stat().st_size and record["observations"] == 0
    assert "torchvision" not in captured.err  # torch.onnx's noise is kept quiet
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert f"wrote {out} (" in table and "not compared with PyTorch (--check 0)" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "missing.pt"], "no checkpoint at missing.pt"),
        (["--format", "tflite"], "--format 'tflite' is not supported; valid: onnx"),
        (["--out", "."], "is a folder; name the file, e.g."),
    ],
    ids=["missing-file", "wrong-format", "out-is-a-folder"],
)
def test_export_command_errors_are_one_line(args, message, shipped_checkpoint, capsys, tmp_path):
    argv = {"--checkpoint": str(shipped_checkpoint), "--out": str(tmp_path / "a.onnx")}
    argv.update(dict(zip(args[::2], args[1::2], strict=True)))
    assert main(["export", *[x for kv in argv.items() for x in kv]]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "a.onnx").exists()


def test_export_of_a_file_that_is_no_checkpoint_is_one_line(tmp_path, capsys):
    path = tmp_path / "plain.onnx"
    _plain_onnx(path)
    argv = ["export", "--checkpoint", str(path), "--out", str(tmp_path / "a.onnx")]
    assert main(argv) == 2
    assert f"cannot load checkpoint {path}" in _one_error_line(capsys.readouterr().err)


def test_export_of_a_checkpoint_without_env_spec_is_one_line(tmp_path, capsys):
    from rlkit.checkpoints import save_checkpoint
    from rlkit.models import MLPQNetwork

    path = save_checkpoint(tmp_path / "bare.pt", model=MLPQNetwork(4, 2), metadata={})
    assert main(["export", "--checkpoint", str(path), "--out", str(tmp_path / "a.onnx")]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"{path} records no env_spec, so a player could not use it" in err


def test_a_model_torch_cannot_export_is_one_line(tmp_path, capsys, monkeypatch):
    from rlkit.checkpoints import save_checkpoint
    from rlkit.envs import env_spec, make_env
    from rlkit.models import MLPQNetwork

    env = make_env("CartPole-v1")
    spec = env_spec(env, "CartPole-v1")
    env.close()
    path = save_checkpoint(
        tmp_path / "cartpole.pt", model=MLPQNetwork(4, 2), metadata={"env_spec": spec.to_dict()}
    )

    def refuse(*args, **kwargs):  # what torch.onnx does with an operator it has no ONNX for
        raise RuntimeError("no ONNX translation for aten::mystery\nwith more lines")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    assert main(["export", "--checkpoint", str(path), "--out", str(tmp_path / "a.onnx")]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "MLPQNetwork could not be exported to ONNX by torch" in err
    assert "no ONNX translation for aten::mystery with more lines" in err


@pytest.mark.slow
def test_play_writes_a_labelled_gif_of_the_first_episode(tmp_path, exported_onnx, capsys):
    from PIL import Image

    from rlkit.cli import main

    gif, (onnx_file, _) = tmp_path / "clip.gif", exported_onnx
    argv = ["play", "--checkpoint", str(onnx_file), "--episodes", "2", "--gif", str(gif)]
    assert main([*argv, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    with Image.open(gif) as im:
        # Pillow merges identical consecutive frames into one longer one.
        assert 1 <= im.n_frames <= record["gif"]["frames"] == record["lengths"][0] + 1
        assert im.size[0] > 0 and record["gif"]["size_bytes"] == gif.stat().st_size
