"""A softmax-regression digit classifier: the quality proxy of the image models (RAHF is not public)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..core import seeds

__all__ = ["digit_classifier"]


def digit_classifier(images: np.ndarray, labels: np.ndarray, seed: int, steps: int = 300) -> Callable:
    """Softmax regression on pixels, full-batch Adam (torch): returns ``images -> class probabilities``."""
    torch.manual_seed(seeds.derive(seed, "digit-classifier"))
    x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32)
    y = torch.as_tensor(labels)
    linear = torch.nn.Linear(x.shape[1], 10)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.01)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-4 * linear.weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def probabilities(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = linear(torch.tensor(np.reshape(batch, (len(batch), -1)), dtype=torch.float32))
            return torch.softmax(logits, -1).numpy()

    return probabilities
