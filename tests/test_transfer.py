"""Moving observations between processes: the wire formats round-trip exactly, their sizes are
what each method promises, and the measurement crosses a real process boundary and leaves
nothing running."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import pickle
import sys

import numpy as np
import pytest

from rlkit.bench import transfer
from rlkit.bench.transfer import BYTE_METHODS, METHODS, decode, encode, transfer_costs

RNG = np.random.default_rng(0)
ARRAYS = {
    "uint8 frames": RNG.integers(0, 256, size=(4, 1, 30, 45), dtype=np.uint8),
    "uint8 rgb": RNG.integers(0, 256, size=(2, 24, 32, 3), dtype=np.uint8),
    # negative, tiny and large values: text must print every float so that it parses back exact
    "float32": (RNG.standard_normal((5, 7)) * np.logspace(-30, 30, 7)).astype(np.float32),
    "int16 fortran": np.asfortranarray(RNG.integers(-300, 300, (3, 4)).astype(np.int16)),
}


@pytest.fixture
def ray_not_initialised(monkeypatch):
    """Ray may have been started by another test in this session; the skip is what is tested."""
    if "ray" in sys.modules:
        monkeypatch.setattr(sys.modules["ray"], "is_initialized", lambda: False)


@pytest.mark.parametrize("method", BYTE_METHODS)
@pytest.mark.parametrize("name", ARRAYS)
def test_every_method_round_trips_exactly(method, name):
    obs = ARRAYS[name]
    payload = encode(method, obs)
    assert isinstance(payload, bytes)
    got = decode(method, payload)
    assert got.dtype == obs.dtype and got.shape == obs.shape
    np.testing.assert_array_equal(got, obs)


def test_text_is_every_element_written_out_and_much_larger_than_raw():
    frames = ARRAYS["uint8 frames"]
    text = encode("text", frames)
    assert b"..." not in text  # not numpy's truncated repr
    assert text.split(b"\n", 1)[1].count(b",") == frames.size - 1  # after the header line
    assert len(text) > 3 * len(encode("raw", frames))


def test_raw_and_pickle_cost_barely_more_bytes_than_the_array():
    frames = ARRAYS["uint8 frames"]
    for method in ("raw", "pickle"):
        assert frames.nbytes < len(encode(method, frames)) < frames.nbytes + 512


@pytest.mark.parametrize(
    "image",
    [
        np.full((2, 1, 30, 45), 77, dtype=np.uint8),
        np.broadcast_to(np.linspace(0, 255, 45).astype(np.uint8), (2, 1, 30, 45)),
    ],
    ids=["constant", "smooth"],
)
def test_zlib_is_smaller_than_raw_on_a_smooth_image(image):
    assert len(encode("zlib", image)) < 0.2 * len(encode("raw", image))


def test_raw_decodes_without_copying():
    payload = encode("raw", ARRAYS["uint8 frames"])
    got = decode("raw", payload)
    assert not got.flags.writeable and np.shares_memory(got, np.frombuffer(payload, np.uint8))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: encode("ray", ARRAYS["float32"]), "'ray' moves an object reference"),
        (lambda: encode("json", ARRAYS["float32"]), "method must be one of text, pickle"),
        (lambda: encode("raw", [1, 2, 3]), "non-empty numpy array .* got a list"),
        (lambda: encode("raw", np.zeros((0, 3))), "non-empty numpy array"),
        (lambda: encode("text", np.array(["a"])), "integers or floats"),
        (lambda: decode("raw", b"not an observation"), "header line giving dtype and shape"),
        (lambda: decode("zlib", b"not compressed"), "not zlib-compressed"),
        (lambda: decode("pickle", encode("pickle", ARRAYS["float32"])[:10]), "not a pickled"),
        (lambda: decode("pickle", pickle.dumps([1, 2])), "holds a list, not a numpy array"),
        (lambda: decode("raw", encode("raw", ARRAYS["float32"])[:-4]), "not a raw observation"),
    ],
)
def test_bad_encode_and_decode_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_transfer_costs_measures_every_method_across_a_process_and_skips_ray(
    ray_not_initialised,
):
    obs = ARRAYS["uint8 frames"]
    result = transfer_costs(obs, seconds=0.05, repeats=1)
    json.dumps(result)  # plain JSON-able
    assert result["payload_mb"] == obs.nbytes / 1e6
    assert result["payload_shape"] == [4, 1, 30, 45]
    assert list(result["methods"]) == list(METHODS[:4])
    for method, row in result["methods"].items():
        assert math.isfinite(row["mb_per_s"]) and row["mb_per_s"] > 0, method
        assert row["seconds_per_mb"] == pytest.approx(1 / row["mb_per_s"])
        assert len(row["runs"]) == 1
    assert result["methods"]["text"]["wire_bytes_per_payload_byte"] > 3
    assert set(result["skipped"]) == {"ray"}
    assert "not initialised" in result["skipped"]["ray"]
    assert mp.active_children() == []


def test_rounds_are_reported_and_the_median_taken(ray_not_initialised):
    obs = ARRAYS["float32"]
    result = transfer_costs(obs, methods=("raw", "raw", "ray"), seconds=0.05, repeats=3)
    row = result["methods"]["raw"]
    assert list(result["methods"]) == ["raw"] and len(row["runs"]) == 3
    assert row["mb_per_s"] == sorted(row["runs"])[1]
    assert mp.active_children() == []


def test_the_child_is_stopped_when_a_round_fails(monkeypatch):
    alive = []

    def fail(*args):
        alive.append(len(mp.active_children()))
        raise RuntimeError("round failed")

    monkeypatch.setattr(transfer, "_pipe_round", fail)
    with pytest.raises(RuntimeError, match="round failed"):
        transfer_costs(ARRAYS["uint8 frames"], methods=("raw",), seconds=0.05, repeats=1)
    assert alive == [1]  # the child was running when the round failed
    assert mp.active_children() == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs": [1, 2, 3]}, "obs must be a non-empty numpy array"),
        ({"obs": np.array([], dtype=np.uint8)}, "obs must be a non-empty numpy array"),
        ({"methods": ("raw", "bytes")}, "methods must be a non-empty sequence of names from text"),
        ({"methods": "raw"}, "methods must be a non-empty sequence"),
        ({"methods": ()}, "methods must be a non-empty sequence"),
        ({"seconds": 0}, "seconds must be a number above 0"),
        ({"seconds": -1.0}, "seconds must be a number above 0"),
        ({"seconds": float("inf")}, "seconds must be a finite number"),
        ({"seconds": True}, "seconds must be a number"),
        ({"repeats": 0}, "repeats must be an integer of at least 1"),
        ({"repeats": 1.5}, "repeats must be an integer"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0"),
    ],
)
def test_bad_arguments_raise_one_clear_value_error(kwargs, match):
    args = {"obs": ARRAYS["uint8 frames"], "seconds": 0.05, "repeats": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        transfer_costs(**args)
    assert mp.active_children() == []
