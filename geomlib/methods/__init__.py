"""Methods the studies apply around the descriptors.

``editing`` (Jacobian subspaces: LOCO Edit, Shallow Diffuse), ``gaussian_structure``
(the Gaussian denoiser of the hidden-Gaussian paper), ``lid`` (local intrinsic
dimension estimators and their synthetic data), ``reward_eval`` (reward models
on descriptors), ``manifold`` (on/off-manifold points and contrasts),
``metrics`` (Vendi, energy distance, similarity), ``images`` (corruptions, PSNR)
and ``analysis`` (the statistics verdicts use).
"""
