"""Backends linearize a generator and capture its pre-activations.

The math is in ``geomlib.core.descriptors``.
"""
