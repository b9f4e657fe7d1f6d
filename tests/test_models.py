from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from rlkit.models import (
    IMAGE_PRESETS,
    ActorCritic,
    ImageQNetwork,
    MLPQNetwork,
    build_q_network,
    count_parameters,
    model_from_spec,
    register_model,
)

IMAGE_SHAPES = [(1, 30, 45), (3, 60, 80), (4, 84, 84), (3, 120, 160)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _pixels(batch: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("dueling", [True, False])
def test_image_q_network_output_shape(shape, dueling):
    torch.manual_seed(0)
    net = ImageQNetwork(shape, 5, dueling=dueling)
    for batch in (1, 7):
        q = net(_pixels(batch, shape))
        assert q.shape == (batch, 5)
        assert q.dtype == torch.float32
        assert torch.isfinite(q).all()


def test_uint8_input_is_scaled_by_255():
    torch.manual_seed(0)
    net = ImageQNetwork((1, 30, 45), 3)
    x = _pixels(4, (1, 30, 45))
    torch.testing.assert_close(net(x), net(x.float() / 255.0))
    assert x.dtype == torch.uint8  # the caller's tensor is not modified in place


def test_float64_and_unbatched_inputs():
    net = ImageQNetwork((1, 30, 45), 3)
    x = torch.rand(2, 1, 30, 45, dtype=torch.float64)
    assert net(x).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        net(torch.rand(1, 30, 45))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        MLPQNetwork(4, 2)(torch.rand(4))


def test_forward_stays_on_the_input_device():
    """No .to(device) inside forward: a meta-device model on meta input stays on meta."""
    net = ImageQNetwork((1, 30, 45), 3).to("meta")
    out = net(torch.zeros(2, 1, 30, 45, dtype=torch.uint8, device="meta"))
    assert out.device.type == "meta" and out.shape == (2, 3)


def test_default_image_network_is_small():
    net = ImageQNetwork((1, 30, 45), 3)
    n = count_parameters(net)
    assert 15_000 <= n <= 60_000
    assert n == 36_532  # 8/16/16 3x3 convs (3,568) + two 512->32 streams + outputs
    assert net.trunk.out_features == 16 * 4 * 8


def test_nature_preset_matches_mnih_2015():
    net = ImageQNetwork.nature((4, 84, 84), 6)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (32, 8, 4),
        (64, 4, 2),
        (64, 3, 1),
    ]
    assert net.trunk.out_features == 64 * 7 * 7
    expected = (4 * 64 * 32 + 32) + (32 * 16 * 64 + 64) + (64 * 9 * 64 + 64)
    expected += 3136 * 512 + 512 + 512 * 6 + 6
    assert count_parameters(net) == expected == 1_687_206
    assert net(_pixels(2, (4, 84, 84))).shape == (2, 6)
    assert ImageQNetwork((4, 84, 84), 6, preset="nature").spec["kwargs"]["hidden"] == 512


def test_pool_caps_feature_size_for_large_frames():
    net = ImageQNetwork((3, 120, 160), 4, pool=(4, 6))
    assert net.trunk.out_features == 16 * 4 * 6
    assert net(_pixels(2, (3, 120, 160))).shape == (2, 4)
    assert count_parameters(net) < 60_000


def test_custom_architecture_and_validation():
    net = ImageQNetwork((1, 30, 45), 3, channels=(8, 8, 8, 16), kernels=3, strides=(2, 2, 1, 1))
    assert net.trunk.out_features == 16 * 2 * 6
    assert net.spec["kwargs"]["kernels"] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="need as many kernels"):
        ImageQNetwork((1, 30, 45), 3, channels=(8, 8, 8, 16))
    with pytest.raises(ValueError, match="at least 36"):
        ImageQNetwork((4, 30, 30), 3, preset="nature")
    with pytest.raises(ValueError, match="unknown preset"):
        ImageQNetwork((1, 30, 45), 3, preset="huge")
    with pytest.raises(ValueError, match="n_actions"):
        ImageQNetwork((1, 30, 45), 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ImageQNetwork((30, 45), 3)


def _split_streams(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(net, ImageQNetwork):
        feats = net.trunk(x.float() / 255.0)
        return net.head.value(feats), net.head.advantage(feats)
    h = net.body(x)
    return net.value(h), net.advantage(h)


@pytest.mark.parametrize(
    "net, x",
    [
        (ImageQNetwork((1, 30, 45), 4, dueling=True), _pixels(6, (1, 30, 45))),
        (MLPQNetwork(8, 4, dueling=True), torch.randn(6, 8)),
    ],
)
def test_dueling_identity(net, x):
    torch.manual_seed(0)
    q = net(x)
    value, advantage = _split_streams(net, x)
    # Q = V + A - mean(A): the mean over actions of Q is exactly V ...
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), value)
    # ... and Q minus its mean is the centred advantage.
    torch.testing.assert_close(
        q - q.mean(dim=1, keepdim=True), advantage - advantage.mean(dim=1, keepdim=True)
    )


def test_mlp_q_network():
    net = MLPQNetwork(4, 2)
    assert net(torch.randn(3, 4)).shape == (3, 2)
    assert count_parameters(net) == (4 * 128 + 128) + (128 * 128 + 128) + (128 * 2 + 2)
    assert net(torch.randn(3, 4, dtype=torch.float64)).dtype == torch.float32
    assert MLPQNetwork(4, 2, hidden=(), dueling=True)(torch.randn(1, 4)).shape == (1, 2)


def test_build_q_network_by_rank():
    assert isinstance(build_q_network((1, 30, 45), 3), ImageQNetwork)
    assert isinstance(build_q_network((4,), 2, hidden=(32,)), MLPQNetwork)
    assert isinstance(build_q_network([4, 84, 84], 6, preset="nature"), ImageQNetwork)
    for bad in [(), (30, 45), (1, 1, 30, 45)]:
        with pytest.raises(ValueError, match="observation shape"):
            build_q_network(bad, 3)


def test_count_parameters_trainable_only():
    net = MLPQNetwork(4, 2, hidden=(8,))
    total = count_parameters(net)
    net.body[0].weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == total - 32
    assert count_parameters(net) == total


@pytest.mark.parametrize("shape", [(1, 30, 45), (4, 84, 84), (8,)])
def test_actor_critic_shapes_and_act(shape):
    torch.manual_seed(0)
    net = ActorCritic(shape, 6)
    x = _pixels(5, shape) if len(shape) == 3 else torch.randn(5, *shape)
    logits, value = net(x)
    assert logits.shape == (5, 6) and value.shape == (5,)
    out = net.act(x)
    for t in out:
        assert t.shape == (5,)
    assert out.action.dtype == torch.int64
    assert ((out.action >= 0) & (out.action < 6)).all()
    log_prob, entropy, value2 = net.evaluate_actions(x, out.action)
    torch.testing.assert_close(log_prob, out.log_prob)
    torch.testing.assert_close(entropy, out.entropy)
    torch.testing.assert_close(value2, value)
    greedy = net.act(x, deterministic=True)
    assert torch.equal(greedy.action, logits.argmax(dim=1))
    # 0.01-gain policy head: the initial policy is close to uniform.
    assert torch.allclose(out.entropy, torch.full((5,), math.log(6)), atol=1e-3)


def test_actor_critic_orthogonal_init():
    net = ActorCritic((8,), 4, hidden=(64, 64))
    for layer, gain in [(net.trunk[0], math.sqrt(2)), (net.trunk[2], math.sqrt(2))]:
        w = layer.weight  # (out, in) with out <= in: rows are orthogonal with norm = gain
        if w.shape[0] > w.shape[1]:
            w = w.T
        torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(w.shape[0]), atol=1e-4, rtol=0)
        assert torch.count_nonzero(layer.bias) == 0
    w = net.policy_head.weight
    torch.testing.assert_close(w @ w.T, 1e-4 * torch.eye(4), atol=1e-6, rtol=0)
    v = net.value_head.weight
    torch.testing.assert_close((v @ v.T).squeeze(), torch.tensor(1.0))
    assert isinstance(net.trunk[1], nn.Tanh)
    image = ActorCritic((1, 30, 45), 3)
    assert any(isinstance(m, nn.ReLU) for m in image.trunk.modules())


def test_actor_critic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="image observations"):
        ActorCritic((8,), 3, channels=(8, 8))
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(D,\)"):
        ActorCritic((30, 45), 3)


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda: ImageQNetwork((1, 30, 45), 3), _pixels(3, (1, 30, 45))),
        (lambda: ImageQNetwork((3, 60, 80), 5, dueling=False, hidden=(64, 32)), None),
        (lambda: ImageQNetwork.nature((4, 84, 84), 6), _pixels(2, (4, 84, 84))),
        (lambda: ImageQNetwork((3, 120, 160), 4, pool=(3, 4)), _pixels(2, (3, 120, 160))),
        (lambda: MLPQNetwork(4, 2, hidden=(16, 16), dueling=True), torch.randn(3, 4)),
        (lambda: ActorCritic((1, 30, 45), 3), _pixels(3, (1, 30, 45))),
        (lambda: ActorCritic((6,), 3, hidden=32), torch.randn(3, 6)),
    ],
)
def test_model_from_spec_round_trip(make, x):
    torch.manual_seed(0)
    net = make()
    if x is None:
        x = _pixels(2, tuple(net.obs_shape))
    spec = json.loads(json.dumps(net.spec))  # must survive JSON (tuples become lists)
    assert spec["class"] == type(net).__name__
    torch.manual_seed(123)
    rebuilt = model_from_spec(spec)
    assert type(rebuilt) is type(net)
    assert rebuilt.spec == net.spec
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    a, b = net(x), rebuilt(x)
    for u, v in zip(_as_tuple(a), _as_tuple(b), strict=True):
        assert torch.equal(u, v)


def test_spec_survives_deepcopy_and_errors():
    net = ImageQNetwork((1, 30, 45), 3)
    assert copy.deepcopy(net).spec == net.spec
    with pytest.raises(ValueError, match="unknown model class 'Nope'"):
        model_from_spec({"class": "Nope", "kwargs": {}})
    with pytest.raises(ValueError, match="'class' and 'kwargs'"):
        model_from_spec({"kwargs": {}})
    with pytest.raises(TypeError):
        register_model(int)


def test_register_custom_model():
    @register_model
    class TinyLinear(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.fc = nn.Linear(n, 1)
            self.spec = {"class": "TinyLinear", "kwargs": {"n": n}}

    assert isinstance(model_from_spec({"class": "TinyLinear", "kwargs": {"n": 3}}), TinyLinear)


def test_presets_are_documented_values():
    assert IMAGE_PRESETS["nature"]["channels"] == (32, 64, 64)
    assert IMAGE_PRESETS["nature"]["kernels"] == (8, 4, 3)
    assert IMAGE_PRESETS["nature"]["strides"] == (4, 2, 1)
