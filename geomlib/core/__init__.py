"""The descriptor core: psi, nu and delta of any JAX or PyTorch map.

``local_geometry`` (the entry point), ``descriptors`` (the math of each
descriptor), ``directions`` (sketches and polytopes, the probes),
``result`` (``LocalGeometry``), ``seeds`` (named random streams) and
``backends`` (JAX and PyTorch: Jacobians, linear operators, captured
pre-activations).
"""
