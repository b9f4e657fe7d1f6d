"""Argument checks shared by the buffers: one clear sentence for a wrong shape, dtype or range."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def check_array(x: Any, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    arr = to_numpy(x)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, but this buffer expects {shape}.")
    # A same-kind check rejects e.g. float frames in [0, 1] going into a uint8 store, which
    # would silently truncate them to zeros.
    if np.dtype(dtype) != np.bool_ and not np.can_cast(arr.dtype, dtype, casting="same_kind"):
        raise ValueError(
            f"{name} has dtype {arr.dtype}, which cannot be stored as {np.dtype(dtype)} without "
            f"changing its kind; convert it first."
        )
    return arr.astype(dtype, copy=False)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def check_shape(shape: Any, name: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and d >= 1 for d in shape):
        raise ValueError(f"{name} must be a tuple of positive integers, got {shape!r}.")
    return tuple(int(d) for d in shape)


def check_unit_interval(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}.")
    return value
