"""Model specs: every rlkit network carries ``model.spec``, from which :func:`model_from_spec`
builds it again (how checkpoints rebuild a model without pickled code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

_MODEL_CLASSES: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Make a model class known to :func:`model_from_spec` (usable as a class decorator).

    The class must set ``self.spec = {"class": cls.__name__, "kwargs": {...}}`` in its constructor,
    with ``kwargs`` JSON-able and accepted back by the constructor.

    :param cls: the :class:`torch.nn.Module` subclass to register under ``cls.__name__``
    :return: ``cls`` unchanged
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_model expects an nn.Module subclass, got {cls!r}")
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def model_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Build a fresh (randomly initialised) network from a ``model.spec`` dict.

    :param spec: ``{"class": name, "kwargs": {...}}`` as stored in ``model.spec``; it may have been
        through JSON (tuples turned into lists), which the constructors accept.
    :return: a new model with the same architecture; load weights with ``load_state_dict``.
    :raises ValueError: if the spec is malformed or names an unknown class.
    """
    if not isinstance(spec, Mapping) or "class" not in spec or "kwargs" not in spec:
        raise ValueError(
            f"a model spec must be a dict with keys 'class' and 'kwargs', got {spec!r:.200}"
        )
    name, kwargs = spec["class"], spec["kwargs"]
    if name not in _MODEL_CLASSES:
        known = ", ".join(sorted(_MODEL_CLASSES))
        raise ValueError(
            f"unknown model class {name!r} in spec; known classes: {known} "
            "(custom classes must be registered with rlkit.models.register_model)"
        )
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"spec['kwargs'] must be a dict, got {type(kwargs).__name__}")
    return _MODEL_CLASSES[name](**dict(kwargs))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``model`` (shared parameters counted once).

    :param model: any :class:`torch.nn.Module`
    :param trainable_only: count only parameters with ``requires_grad=True``
    :return: the total number of elements
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
