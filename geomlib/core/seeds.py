"""Named random streams: one seed, split by purpose.

Every random draw of the project comes from a stream named by what it is for,
derived from the run's one ``seed`` with NumPy's ``SeedSequence`` (which
mixes its entropy so that nearby seeds and different names give independent
streams)::

    rng = seeds.rng(cfg.seed, "ddim-noise")            # NumPy Generator
    key = seeds.jax_key(cfg.seed, "minibatches")        # JAX PRNG key
    g = seeds.torch_generator(cfg.seed, "noise", i)     # torch.Generator for sample i
    Polytope(k=4, r=1e-4, seed=seeds.derive(cfg.seed, "polytope"))

so no caller writes ``seed + 7`` and two uses of one seed never share draws by
accident. Names are part of the numbers: renaming a stream changes results.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive", "jax_key", "rng", "sequence", "torch_generator"]


def _word(part) -> int:
    """An integer for one part of a stream's name: a non-negative int as itself, a string by its hash."""
    if isinstance(part, (bool, np.bool_)):
        raise TypeError(f"a stream name part must be a string or a non-negative int; got {part!r}")
    if isinstance(part, (int, np.integer)):
        if part < 0:
            raise ValueError(f"a stream name part must be >= 0; got {part}")
        return int(part)
    if isinstance(part, str):
        return int.from_bytes(hashlib.sha256(part.encode()).digest()[:8], "little")
    raise TypeError(f"a stream name part must be a string or a non-negative int; got {part!r}")


def sequence(seed: int, *purpose) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``purpose`` (strings and ints) under the root ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    return np.random.SeedSequence([int(seed), *(_word(p) for p in purpose)])


def derive(seed: int, *purpose) -> int:
    """A 32-bit integer seed for stream ``purpose`` (for APIs that take an int: torch, JAX, ``Polytope``)."""
    return int(sequence(seed, *purpose).generate_state(1, np.uint32)[0])


def rng(seed: int, *purpose) -> np.random.Generator:
    """A NumPy ``Generator`` on stream ``purpose``."""
    return np.random.default_rng(sequence(seed, *purpose))


def jax_key(seed: int, *purpose):
    """A JAX PRNG key on stream ``purpose``."""
    import jax

    return jax.random.PRNGKey(derive(seed, *purpose))


def torch_generator(seed: int, *purpose):
    """A CPU ``torch.Generator`` on stream ``purpose`` (the same numbers whatever device they go to)."""
    import torch

    return torch.Generator().manual_seed(derive(seed, *purpose))
