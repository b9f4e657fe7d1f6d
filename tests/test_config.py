"""Configs: presets, overrides, validation messages."""

from __future__ import annotations

import dataclasses

import pytest

from rlkit.config import PRESETS, ConfigError, DQNConfig, apply_overrides, preset


def test_every_preset_is_valid_and_frozen():
    for name, cfg in PRESETS.items():
        assert isinstance(cfg, DQNConfig), name
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
    }
    assert expected <= set(PRESETS)


def test_override_by_keyword_changes_only_that_field():
    base = preset("vizdoom_basic")
    cfg = preset("vizdoom_basic", lr=3e-4)
    assert cfg.lr == 3e-4
    assert dataclasses.replace(cfg, lr=base.lr) == base


def test_every_field_has_a_docstring():
    import inspect

    from rlkit.config import RunConfig

    src = inspect.getsource(DQNConfig) + inspect.getsource(RunConfig)
    for f in dataclasses.fields(DQNConfig):
        after = src.split(f"    {f.name}:", 1)[1].split("\n", 2)[1].strip()
        assert after.startswith('"""'), f"field {f.name} has no docstring"


def test_run_fields_are_shared_and_algorithm_fields_are_not():
    from rlkit.config import RunConfig

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
