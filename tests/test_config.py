"""Configs: presets, overrides, validation messages."""

from __future__ import annotations

import dataclasses

import pytest

from rlkit.config import ConfigError, DQNConfig, PPOConfig, RunConfig, apply_overrides
from rlkit.presets import PRESETS, preset


def test_every_preset_is_valid_and_frozen():
    for name, cfg in PRESETS.items():
        assert isinstance(cfg, DQNConfig | PPOConfig), name
        assert isinstance(cfg, RunConfig) and cfg.algo in ("dqn", "ppo"), name
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.lr = 1.0  # type: ignore[misc]


def test_expected_presets_exist():
    expected = {
        "cartpole",
        "acrobot",
        "lunarlander",
        "vizdoom_simpler_basic",
        "vizdoom_basic",
        "vizdoom_defend_the_center",
        "cartpole_ppo",
        "vizdoom_basic_ppo",
        "vizdoom_defend_the_center_ppo",
    }
    assert expected <= set(PRESETS)


def test_override_by_keyword_changes_only_that_field():
    base = preset("vizdoom_basic")
    cfg = preset("vizdoom_basic", lr=3e-4)
    assert cfg.lr == 3e-4
    assert dataclasses.replace(cfg, lr=base.lr) == base


@pytest.mark.parametrize("cls", [DQNConfig, PPOConfig])
def test_every_field_has_a_docstring(cls):
    import inspect

    src = inspect.getsource(cls) + inspect.getsource(RunConfig)
    for f in dataclasses.fields(cls):
        after = src.split(f"    {f.name}:", 1)[1].split("\n", 2)[1].strip()
        assert after.startswith('"""'), f"field {f.name} has no docstring"


def test_run_fields_are_shared_and_algorithm_fields_are_not():
    run = {f.name for f in dataclasses.fields(RunConfig)}
    assert {"env_id", "num_envs", "total_steps", "eval_interval", "seed", "torch_threads"} <= run
    assert not {"lr", "buffer_size", "gamma"} & run
    assert DQNConfig.algo == "dqn"
    with pytest.raises(ConfigError, match="'num_envs' = 0"):
        RunConfig(num_envs=0)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown preset 'doom'.*valid: .*vizdoom_basic"):
        preset("doom")


def test_unknown_field_lists_valid_fields():
    with pytest.raises(ConfigError, match=r"unknown config field.*learning_rate.*valid: .*lr"):
        preset("cartpole", learning_rate=1e-3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", -1e-3, "'lr' = -0.001 is out of range; valid: a number > 0"),
        ("lr", float("nan"), "'lr'"),
        ("gamma", 1.5, r"'gamma' = 1.5 .*\(0, 1\]"),
        ("gamma", 0.0, r"'gamma' = 0.0 .*\(0, 1\]"),
        ("batch_size", 10**9, "'batch_size' .* at most buffer_size"),
        ("batch_size", 0, "'batch_size' = 0 .* integer ≥ 1"),
        ("eps_end", 2.0, r"'eps_end' .*\[0, 1\]"),
        ("optimizer", "lbfgs", "'optimizer' .*adam"),
        ("loss", "l1", "'loss' .*huber, mse"),
        ("per_alpha", -0.1, "'per_alpha'"),
        ("num_envs", 1.5, "'num_envs'"),
        ("dueling", "yes please", "'dueling' = 'yes please' is not a boolean"),
        ("dueling", 2, "'dueling' = 2 .* True or False"),
        ("vector_backend", "ray", "'vector_backend' .*shm"),
        ("max_grad_norm", 0, "'max_grad_norm' .* or None"),
    ],
)
def test_out_of_range_values_name_the_field_and_valid_range(field, value, message):
    with pytest.raises(ConfigError, match=message):
        preset("cartpole", **{field: value})


def test_string_overrides_are_parsed_like_cli_set():
    cfg = apply_overrides(
        preset("cartpole"),
        {
            "lr": "3e-4",
            "batch_size": "32",
            "dueling": "false",
            "max_grad_norm": "none",
            "env_kwargs": '{"max_episode_steps": 100}',
        },
    )
    assert cfg.lr == 3e-4 and cfg.batch_size == 32 and cfg.dueling is False
    assert cfg.max_grad_norm is None and cfg.env_kwargs == {"max_episode_steps": 100}
    with pytest.raises(ConfigError, match="'batch_size' = 'many' is not a number"):
        apply_overrides(preset("cartpole"), {"batch_size": "many"})


def test_int_given_for_float_field_is_accepted():
    assert preset("cartpole", lr=1).lr == 1.0


def test_round_trip_through_dict():
    cfg = preset("vizdoom_simpler_basic", seed=3)
    assert DQNConfig.from_dict(cfg.to_dict()) == cfg


def test_cli_strings_parse_by_the_field_type_not_the_current_value():
    # hidden and torch_threads are "int | None": a string must give an int even when None.
    assert preset("vizdoom_basic", hidden="64").hidden == 64
    assert preset("cartpole", torch_threads="none").torch_threads is None
    assert preset("cartpole", total_steps="1e5").total_steps == 100_000
    with pytest.raises(ConfigError, match=r"'total_steps' = '1\.5' is not a whole number"):
        preset("cartpole", total_steps="1.5")


def test_presets_do_not_share_their_env_kwargs_dict():
    cfg = preset("vizdoom_basic")
    cfg.env_kwargs["frame_skip"] = 1
    assert preset("vizdoom_basic").env_kwargs["frame_skip"] == 12


def test_ppo_config_sizes_its_minibatches_and_checks_they_divide_the_rollout():
    cfg = preset("cartpole_ppo", num_envs=4, n_steps=128, n_minibatches=4)
    assert PPOConfig.algo == "ppo" and cfg.rollout_size == 512 and cfg.minibatch_size == 128
    with pytest.raises(ConfigError, match=r"'n_minibatches' = 3 .*divisor of .*4 \* 128 = 512"):
        cfg.replace(n_minibatches=3)
    with pytest.raises(ConfigError, match="'n_minibatches'"):
        cfg.replace(num_envs=3, n_steps=5)  # 15 is not a multiple of 4


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("clip_coef", 0, "'clip_coef' = 0.0 .*> 0"),
        ("ent_coef", -0.01, "'ent_coef' = -0.01 .*≥ 0"),
        ("gae_lambda", 1.5, r"'gae_lambda' .*\[0, 1\]"),
        ("target_kl", 0.0, "'target_kl' .* or None"),
        ("n_epochs", 0, "'n_epochs' = 0 .* integer ≥ 1"),
        ("norm_adv", "maybe", "'norm_adv' = 'maybe' is not a boolean"),
    ],
)
def test_ppo_out_of_range_values_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        preset("cartpole_ppo", **{field: value})


def test_ppo_config_round_trips_through_dict_and_string_overrides():
    cfg = apply_overrides(preset("vizdoom_basic_ppo"), {"target_kl": "0.015", "anneal_lr": "no"})
    assert cfg.target_kl == 0.015 and cfg.anneal_lr is False
    assert PPOConfig.from_dict(cfg.to_dict()) == cfg


# -- found by tests/test_fuzz.py -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", 10**400, r"'lr' = 1000000000.* is out of range; valid: a number > 0"),
        ("buffer_size", 2**63, r"'buffer_size' = 9223372036854775808 .*at most 2\*\*63 - 1"),
        ("seed", 2**64, "'seed' = 18446744073709551616 is out of range"),
        ("torch_threads", 2**31, r"'torch_threads' .*\[1, 1024\] or None"),
        ("slow_worker_s", 1e12, r"'slow_worker_s' .*\[0, 3600\]"),
        ("optimizer", ["adam"], "'optimizer' = \\['adam'\\] is out of range"),
    ],
)
def test_values_a_run_cannot_use_are_refused_when_the_config_is_made(field, value, message):
    with pytest.raises(ConfigError, match=message):
        preset("cartpole", **{field: value})


def test_an_int_too_long_to_print_is_named_all_the_same():
    with pytest.raises(ConfigError, match="'seed' = <int too large to show> is out of range"):
        preset("cartpole", seed=10**5000)  # repr() itself raises for 5000 digits


def test_an_integer_string_is_read_exactly_and_odd_numbers_say_what_is_valid():
    assert preset("cartpole", seed=str(2**63 - 1)).seed == 2**63 - 1  # no float round trip
    cases = {
        str(2**63 + 1): "is out of range; valid: an integer ≥ 0",
        "1e400": "is out of range; valid: an integer ≥ 0",
        "nan": "is not a number; valid: an integer ≥ 0",
        "9" * 5000: r"'seed' = '9999.*… is out of range",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=message) as e:
            preset("cartpole", seed=text)
        assert len(str(e.value)) < 200  # the value is shortened, the message one line
    with pytest.raises(ConfigError, match="'lr' = 'nan' is not a number; valid: a number > 0"):
        preset("cartpole", lr="nan")


@pytest.mark.parametrize("text", ['{"frame_skip": NaN}', '{"a": Infinity}', "[" * 5000])
def test_env_kwargs_json_is_strict_and_deep_nesting_is_an_error(text):
    with pytest.raises(ConfigError, match=r"'env_kwargs' = .* is not JSON; valid: a JSON object"):
        preset("cartpole", env_kwargs=text)


def test_unknown_names_are_shown_by_their_repr_on_one_line():
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) 'a\\nb' ") as e:
        preset("cartpole", **{"a\nb": 1})
    assert "\n" not in str(e.value)
    # name is preset's own parameter, self replace's: neither takes a field's place.
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) 'name'"):
        preset("cartpole", **{"name": "1"})
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) 'self'"):
        preset("cartpole").replace(**{"self": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bogus": 1}, "ViZDoom envs take no argument 'bogus'; valid: resolution, frame_skip"),
        ({"frame_skip": 0}, r"frame_skip must be an integer in 1\.\.64, got 0"),
        ({"resolution": [4000, 45]}, r"resolution \(4000, 45\) is larger than the largest"),
        ({"resolution": [30]}, r"resolution must be \(height, width\)"),
        ({"window": 1}, "window must be True or False, got 1"),
    ],
)
def test_vizdoom_env_kwargs_are_checked_when_the_config_is_made(kwargs, message):
    with pytest.raises(ConfigError, match="'env_kwargs' of vizdoom:basic: " + message):
        preset("vizdoom_basic", env_kwargs=kwargs)
    ok = preset("vizdoom_basic", env_kwargs='{"resolution": [60, 80], "frame_skip": 4}')
    assert ok.env_kwargs == {"resolution": [60, 80], "frame_skip": 4}


def test_env_kwargs_must_be_argument_names_with_json_values():
    with pytest.raises(ConfigError, match="'env_kwargs' has the key 'a b'; valid: argument names"):
        preset("cartpole", env_kwargs={"a b": 1})
    with pytest.raises(ConfigError, match=r"'env_kwargs' has x = <object .* not JSON data"):
        preset("cartpole", env_kwargs={"x": object()})
    with pytest.raises(ConfigError, match=r"'env_kwargs' has x = \[1000.* not JSON data"):
        preset("cartpole", env_kwargs={"x": [10**30]})
