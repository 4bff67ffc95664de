"""Sample-quality gates: is a generator good enough for a verdict about its geometry to mean something?

A class-conditional digit generator passes when the project's digit
classifier (``geomlib.models.digit_classifier``, trained on real training
digits) assigns its samples to the class they were drawn for about as often
as it assigns real held-out digits to theirs: accuracy on the samples at
least ``ratio`` times the accuracy on as many real test digits of the same
classes (the ceiling the classifier itself sets). The rule is stated before
the numbers; a notebook prints the gate right after sampling, and the ledger
rows that depend on sample quality become *inconclusive* on a model that
fails it.

An unconditional digit generator has no class to check, so its gate asks
how often the classifier is confident about *some* digit: the share of
samples whose largest class probability exceeds ``confidence`` (0.9), at
least ``ratio`` times that share on real held-out digits.

A 2D toy model has no classifier to ask, and the dino has no density (it is
142 points), so its gate compares distances to the data: the energy distance
of the model's samples must sit closer to the floor (a fresh draw from the
data's own distribution, the same size) than to a Gaussian with the data's
mean and covariance (what a model that learned two moments reaches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ClassGate", "ConfidenceGate", "DistanceGate", "class_gate", "confidence_gate", "matching_real"]


@dataclass(frozen=True)
class ClassGate:
    """The gate's numbers and its outcome."""

    accuracy: float  # share of samples the classifier assigns to their own class
    confidence: float  # mean probability the classifier gives a sample's own class
    ceiling: float  # the classifier's accuracy on as many real held-out digits
    ceiling_confidence: float  # its mean probability of their true class
    count: int  # samples (and real digits) scored
    ratio: float  # the gate: accuracy >= ratio * ceiling

    @property
    def threshold(self) -> float:
        return self.ratio * self.ceiling

    @property
    def passed(self) -> bool:
        return bool(self.accuracy >= self.threshold)

    def __str__(self) -> str:
        return (
            f"quality gate: class accuracy {self.accuracy:.3f} on {self.count} samples (mean confidence "
            f"{self.confidence:.3f}); real held-out digits {self.ceiling:.3f} "
            f"({self.ceiling_confidence:.3f}); "
            f"passes at >= {self.ratio:g} x {self.ceiling:.3f} = {self.threshold:.3f}: "
            + ("PASSED" if self.passed else "FAILED")
        )

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "ceiling": self.ceiling,
            "threshold": self.threshold,
            "passed": self.passed,
        }


def matching_real(labels: np.ndarray, real_labels: np.ndarray) -> np.ndarray:
    """Indices of real digits with the samples' class counts: for each class in ``labels``, as many of
    the first real digits of that class (the gate's ceiling on the same mix of classes)."""
    wanted = np.bincount(labels, minlength=10)
    return np.concatenate([np.flatnonzero(real_labels == c)[: wanted[c]] for c in np.unique(labels)])


def class_gate(
    classify: Callable[[np.ndarray], np.ndarray],
    samples: np.ndarray,
    labels: np.ndarray,
    real: np.ndarray,
    real_labels: np.ndarray,
    ratio: float = 0.9,
) -> ClassGate:
    """The gate of ``samples`` drawn for classes ``labels`` against ``real`` digits of ``real_labels``.

    classify: ``images -> (N, 10) class probabilities``; images in the layout and range it was
    trained on.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1]; got {ratio!r}")
    if len(samples) != len(labels) or len(real) != len(real_labels) or not len(samples) or not len(real):
        raise ValueError("samples and real digits need one label each, and at least one of each")

    def scores(images, classes):
        probabilities = classify(images)
        own = probabilities[np.arange(len(classes)), classes]
        return float(np.mean(probabilities.argmax(axis=1) == classes)), float(np.mean(own))

    accuracy, confidence = scores(samples, np.asarray(labels))
    ceiling, ceiling_confidence = scores(real, np.asarray(real_labels))
    return ClassGate(accuracy, confidence, ceiling, ceiling_confidence, len(samples), ratio)


@dataclass(frozen=True)
class ConfidenceGate:
    """The unconditional gate's numbers: the share of samples the classifier is confident about."""

    share: float  # share of samples whose largest class probability exceeds `confidence`
    ceiling: float  # the same share on the real held-out digits
    count: int
    ratio: float
    confidence: float

    @property
    def threshold(self) -> float:
        return self.ratio * self.ceiling

    @property
    def passed(self) -> bool:
        return bool(self.share >= self.threshold)

    def __str__(self) -> str:
        return (
            f"quality gate: {self.share:.3f} of {self.count} samples look like a digit (classifier "
            f"confidence > {self.confidence:g}); real held-out digits {self.ceiling:.3f}; passes at >= "
            f"{self.ratio:g} x {self.ceiling:.3f} = {self.threshold:.3f}: "
            + ("PASSED" if self.passed else "FAILED")
        )

    def as_dict(self) -> dict:
        return {
            "share": self.share,
            "ceiling": self.ceiling,
            "threshold": self.threshold,
            "passed": self.passed,
        }


def confidence_gate(
    classify: Callable[[np.ndarray], np.ndarray],
    samples: np.ndarray,
    real: np.ndarray,
    ratio: float = 0.9,
    confidence: float = 0.9,
) -> ConfidenceGate:
    """The gate of unconditional ``samples`` against ``real`` digits. Every real digit given is scored:
    the ceiling is the classifier's own, estimated as precisely as the data allow (a few dozen real
    digits would make the threshold as noisy as the samples' share)."""
    if not 0 < ratio <= 1 or not 0 < confidence < 1:
        raise ValueError(f"ratio must be in (0, 1] and confidence in (0, 1); got {ratio!r}, {confidence!r}")
    if not len(samples) or not len(real):
        raise ValueError("confidence_gate needs at least one sample and one real digit")

    def share(images):
        return float(np.mean(classify(images).max(axis=1) > confidence))

    return ConfidenceGate(share(samples), share(real), len(samples), ratio, confidence)


@dataclass(frozen=True)
class DistanceGate:
    """The toy gate: the samples' distance to the data between the floor and a two-moment Gaussian's."""

    distance: float  # energy distance of the model's samples to the data
    floor: float  # that of a fresh draw from the data's distribution (sample-size noise)
    gaussian: float  # that of a Gaussian with the data's mean and covariance

    @property
    def threshold(self) -> float:
        return (self.floor + self.gaussian) / 2

    @property
    def passed(self) -> bool:
        return bool(self.distance <= self.threshold)

    def __str__(self) -> str:
        return (
            f"quality gate: energy distance to the data {self.distance:.4f}; a fresh draw of the data "
            f"{self.floor:.4f}, a Gaussian with its moments {self.gaussian:.4f}; passes at <= their "
            f"midpoint {self.threshold:.4f}: " + ("PASSED" if self.passed else "FAILED")
        )

    def as_dict(self) -> dict:
        return {
            "distance": self.distance,
            "floor": self.floor,
            "gaussian": self.gaussian,
            "threshold": self.threshold,
            "passed": self.passed,
        }
