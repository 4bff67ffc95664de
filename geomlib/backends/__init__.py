"""Backends linearize a generator and capture its pre-activations; the math is in ``geomlib.descriptors``."""
