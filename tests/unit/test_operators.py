"""``linear_operators`` against the analytic Jacobian of ``x -> A tanh(B x + c t)``, in both backends."""

import numpy as np
import pytest

from geomlib.core.backends.operators import linear_operators
from geomlib.core.local_geometry import BoundMap

RNG = np.random.default_rng(0)
A, B, C = RNG.standard_normal((5, 4)), RNG.standard_normal((4, 6)), RNG.standard_normal(4)
X = RNG.standard_normal(6)
V, Y = RNG.standard_normal((6, 3)), RNG.standard_normal((5, 2))


def _analytic(t: float) -> np.ndarray:
    """J = A diag(1 - tanh^2(B x + c t)) B, in float64 NumPy."""
    h = B @ X + C * t
    return A @ np.diag(1 - np.tanh(h) ** 2) @ B


def _jax_map():
    import jax.numpy as jnp

    a, b, c = (jnp.asarray(m, jnp.float32) for m in (A, B, C))

    def fn(x, t):
        pre = b @ x + c * t
        return a @ jnp.tanh(pre), {"tanh": pre}

    return fn


def _torch_map(t: float):
    import torch

    from geomlib.core.backends.torch_backend import torch_with_preactivations

    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(), torch.nn.Linear(4, 5, bias=False))
    with torch.no_grad():
        module[0].weight.copy_(torch.as_tensor(B, dtype=torch.float32))
        module[0].bias.copy_(torch.as_tensor(C * t, dtype=torch.float32))
        module[2].weight.copy_(torch.as_tensor(A, dtype=torch.float32))
    return torch_with_preactivations(module, module)


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("t", [0.0, 0.7])
def test_jacobian_and_its_products_match_the_analytic_jacobian(backend, t):
    if backend == "jax":
        import jax.numpy as jnp

        fn = BoundMap(_jax_map(), (jnp.asarray(t, jnp.float32),))
    else:
        fn = _torch_map(t)
    ops = linear_operators(fn, (6,), has_aux=True)
    J = _analytic(t)
    np.testing.assert_allclose(ops.jacobian(X), J, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.jvp(X, V), J @ V, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.vjp(X, Y), J.T @ Y, rtol=1e-5, atol=1e-5)
    assert ops.jvp(X, V).dtype == np.float64
