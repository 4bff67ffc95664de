"""The quality gate against classifiers whose answers are known."""

import numpy as np
import pytest

from geomlib.methods.quality import class_gate


def _oracle(images):
    """Reads the class written in the first pixel: a classifier that is always right."""
    classes = images.reshape(len(images), -1)[:, 0].astype(int)
    return np.eye(10)[classes]


def _digits(classes):
    images = np.zeros((len(classes), 4, 4))
    images[:, 0, 0] = classes
    return images


def test_a_generator_that_draws_its_classes_passes_and_one_that_draws_the_wrong_ones_fails():
    classes = np.arange(20) % 10
    good = class_gate(_oracle, _digits(classes), classes, _digits(classes), classes)
    assert good.accuracy == good.ceiling == 1.0 and good.passed
    wrong = class_gate(_oracle, _digits((classes + 1) % 10), classes, _digits(classes), classes)
    assert wrong.accuracy == 0.0 and not wrong.passed
    assert "FAILED" in str(wrong) and "PASSED" in str(good)


def test_the_threshold_is_relative_to_the_classifiers_own_ceiling():
    classes = np.arange(10)
    half_right = np.where(classes < 5, classes, (classes + 1) % 10)  # the real digits: 5 of 10 read right
    samples = np.where(classes < 4, classes, (classes + 1) % 10)  # the samples: 4 of 10
    gate = class_gate(_oracle, _digits(samples), classes, _digits(half_right), classes, ratio=0.8)
    assert gate.ceiling == 0.5 and gate.accuracy == 0.4 and gate.threshold == pytest.approx(0.4)
    assert gate.passed  # 0.4 >= 0.8 x 0.5
    assert not class_gate(_oracle, _digits(samples), classes, _digits(half_right), classes, ratio=0.9).passed


def test_bad_input_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="ratio must be in"):
        class_gate(_oracle, _digits([1]), [1], _digits([1]), [1], ratio=1.5)
    with pytest.raises(ValueError, match="one label each"):
        class_gate(_oracle, _digits([1, 2]), [1], _digits([1]), [1])


def _sure_of_first_pixel(images):
    """Probabilities that put the first pixel's value (0 to 1) on class 0 and the rest evenly on the
    other nine: confident exactly where the first pixel is above 0.9."""
    sure = images.reshape(len(images), -1)[:, 0]
    return np.column_stack([sure, *[(1 - sure) / 9] * 9])


def test_the_unconditional_gate_counts_confident_samples_against_real_digits():
    from geomlib.methods.quality import confidence_gate

    real = np.zeros((10, 2, 2))
    real[:8, 0, 0] = 0.95  # 8 of 10 real digits read with confidence above 0.9
    samples = np.zeros((10, 2, 2))
    samples[:7, 0, 0] = 0.99  # 7 of 10 samples
    gate = confidence_gate(_sure_of_first_pixel, samples, real)
    assert (gate.share, gate.ceiling) == (0.7, 0.8)
    assert gate.threshold == pytest.approx(0.72) and not gate.passed
    assert confidence_gate(_sure_of_first_pixel, samples, real, ratio=0.85).passed  # 0.7 >= 0.68
    with pytest.raises(ValueError, match="ratio"):
        confidence_gate(_sure_of_first_pixel, samples, real, confidence=1.0)


def test_matching_real_takes_the_samples_class_counts():
    from geomlib.methods.quality import matching_real

    real_labels = np.array([3, 1, 3, 0, 3, 1, 0])
    chosen = matching_real(np.array([3, 3, 1]), real_labels)
    # brute force: the first two 3s (positions 0, 2) and the first 1 (position 1), class by class
    assert chosen.tolist() == [1, 0, 2]


class _Replayer:
    """A stand-in generator whose 'samples' are given images (the gate only calls ``sample``)."""

    def __init__(self, images):
        self.images = images

    def sample(self, num, *, seed):
        return self.images[np.arange(num) % len(self.images)]


def test_the_mnist_ddpm_gate_passes_real_digits_and_fails_noise():
    """The MNIST DDPM's gate at the `default` 14 x 14: real held-out digits as 'samples' pass (they are
    the ceiling); Gaussian noise (clipped to [-1, 1], as the gate clips samples) and a blank canvas fail.
    (At the smoke preset's 7 x 7 the linear classifier is sure of a third of clipped noise, and noise
    passes: the gate means something at 14 x 14 and up.)"""
    from geomlib import data as datasets
    from geomlib.models.mnist_ddpm import GATE_SAMPLES, MNISTDDPMSettings, mnist_ddpm_gate

    settings = MNISTDDPMSettings.preset("default")
    _, test = datasets.mnist_vectors(settings.mnist_size, settings.seed)
    real = mnist_ddpm_gate(_Replayer(test), settings)
    assert real.passed and real.count == GATE_SAMPLES
    noise = np.random.default_rng(0).standard_normal((50, test.shape[1])) * 3
    assert not mnist_ddpm_gate(_Replayer(noise), settings).passed
    assert not mnist_ddpm_gate(_Replayer(-np.ones((1, test.shape[1]))), settings).passed


def test_the_distance_gate_passes_the_data_distribution_and_fails_its_two_moment_gaussian():
    """Nine Gaussians: fresh mixture points pass; a Gaussian with the mixture's moments (what the rule
    calls a two-moment model) fails; the threshold is the midpoint of floor and Gaussian."""
    from geomlib.data import sample_nine_gaussians
    from geomlib.methods.metrics import energy_distance
    from geomlib.methods.quality import DistanceGate

    data = sample_nine_gaussians(2000, 0, std=0.1)
    rng = np.random.default_rng(1)
    floor = energy_distance(sample_nine_gaussians(2000, 1, std=0.1), data)
    gaussian = energy_distance(rng.multivariate_normal(data.mean(0), np.cov(data.T), 2000), data)
    mixture = DistanceGate(energy_distance(sample_nine_gaussians(2000, 2, std=0.1), data), floor, gaussian)
    assert mixture.passed and mixture.threshold == pytest.approx((floor + gaussian) / 2)
    blob = DistanceGate(
        energy_distance(rng.multivariate_normal(data.mean(0), np.cov(data.T), 2000), data), floor, gaussian
    )
    assert not blob.passed and "FAILED" in str(blob)
