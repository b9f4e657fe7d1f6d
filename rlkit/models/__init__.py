"""Neural networks for value-based and actor-critic agents.

Every network here is a plain :class:`torch.nn.Module` that also carries ``model.spec``: a small
JSON-able dict ``{"class": <name>, "kwargs": {...}}`` holding the constructor arguments after
defaults were resolved. :func:`model_from_spec` turns such a dict back into a fresh network, which
is how :mod:`rlkit.checkpoints` rebuilds a model from a file without pickling any Python code.

Observations
------------
==============  ===============  ===================================================================
Kind            Shape            dtype and scaling
==============  ===============  ===================================================================
image           (B, C, H, W)     ``uint8`` in [0, 255]: divided by 255 inside ``forward`` on the
                                 tensor's own device. Floating-point input is used as given (it
                                 is assumed to be already scaled to [0, 1]).
vector          (B, D)           ``float32`` (other dtypes are cast to ``float32``).
==============  ===============  ===================================================================

``forward`` never moves its input between devices: put the network and the batch on the same
device yourself (``model.to(device)``; ``torch.as_tensor(obs, device=device)``).

References
----------
* Mnih et al. (2015), "Human-level control through deep reinforcement learning", Nature 518 --
  the conv trunk of the ``"nature"`` preset (32 8x8/4, 64 4x4/2, 64 3x3/1, then 512 units).
* Wang et al. (2016), "Dueling Network Architectures for Deep Reinforcement Learning",
  arXiv:1511.06581 -- the dueling head, ``Q = V + A - mean(A)`` (their equation 9).
* Huang et al. (2022), "The 37 Implementation Details of Proximal Policy Optimization", ICLR Blog
  Track, and Andrychowicz et al. (2021), "What Matters in On-Policy Reinforcement Learning?",
  arXiv:2006.05990 -- orthogonal initialisation with gain sqrt(2) in hidden layers, 0.01 for the
  policy output and 1 for the value output, as used by :class:`ActorCritic`.
"""

from rlkit.models.actor_critic import ActorCritic, ActOutput
from rlkit.models.layers import IMAGE_PRESETS, ConvTrunk
from rlkit.models.q import ImageQNetwork, MLPQNetwork, build_q_network
from rlkit.models.registry import count_parameters, model_from_spec, register_model

__all__ = [
    "IMAGE_PRESETS",
    "ActOutput",
    "ActorCritic",
    "ConvTrunk",
    "ImageQNetwork",
    "MLPQNetwork",
    "build_q_network",
    "count_parameters",
    "model_from_spec",
    "register_model",
]
