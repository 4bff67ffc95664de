"""The "Your own model" page's code runs as written, and says what it computes."""

import re
from pathlib import Path

import numpy as np

PAGE = Path(__file__).resolve().parents[2] / "docs" / "own-model.md"


def test_the_pages_code_blocks_run_in_order_and_give_finite_descriptors():
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) == 2
    namespace = {}
    exec(compile(blocks[0], "own-model block 1", "exec"), namespace)  # noqa: S102 - the page's own code
    geom = namespace["geom"]
    assert np.all(np.isfinite(geom.psi)) and np.all(geom.nu > 0)
    assert geom.delta.max() > 0, "at the page's r = 0.05 the MLP's delta is not all zero"
    exec(compile(blocks[1], "own-model block 2", "exec"), namespace)  # noqa: S102
    assert np.all(np.isfinite(namespace["geom"].psi)) and namespace["geom"].psi.shape == (4,)
