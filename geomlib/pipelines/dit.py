"""DiT (``DiTPipeline``, e.g. DiT-XL/2): the class-conditional transformer's guided noise prediction.

As the pipeline's loop forms it: ``scale_model_input``, the transformer at
``t`` with ``class_labels`` (an int; the null class of guidance is the
label table's last entry, ``num_embeds_ada_norm``: 1000 for DiT-XL/2, as the
pipeline hard-codes), guidance on the noise channels ``uncond + g (cond -
uncond)`` when ``g > 1``, and the learned-variance channels dropped. The
rebuttal analyses "the transformer network, conditioned on timestep t = 0".
"""

from __future__ import annotations

import torch

from ._core import check_known, guided, scaled_input

CONDITIONING = ("class_labels",)


def denoiser(pipe, t, guidance_scale, conditioning):
    check_known(conditioning, CONDITIONING, pipe)
    if not isinstance(conditioning.get("class_labels"), int):
        raise ValueError("DiTPipeline needs class_labels, one class index (an int)")
    transformer, scale_input = pipe.transformer, scaled_input(pipe.scheduler, t)
    channels = transformer.config.in_channels
    g = 4.0 if guidance_scale is None else float(guidance_scale)  # the pipeline's default
    timesteps = t.reshape(1).to(pipe.device)

    def eps(label: int):
        labels = torch.tensor([label], device=pipe.device)

        def predict(x):
            x = scale_input(x[None]).to(transformer.dtype)
            return transformer(x, timestep=timesteps, class_labels=labels).sample[0, :channels]

        return predict

    null = transformer.config.num_embeds_ada_norm
    return guided(eps(conditioning["class_labels"]), eps(null) if g > 1 else None, g)
