"""Descriptors at scale on Ray: sharded, resumable, the same numbers at any worker count.

One entry point, ``run`` (and ``python -m geomlib.tools.scale``), computes psi, nu
and delta of one of the project's generators at many inputs:

- a ``ModelSpec`` names the generator and its map: the toy 2D DDPM's
  denoiser (``toy``, JAX), the beta-VAE decoder (``vae``), the latent
  diffusion model's decoder, UNet or x0-predictor (``latent``: small, or SD
  1.4 by the ``stable_diffusion`` preset or ``weights``), or the DiT's noise
  prediction (``dit``), each as a notebook preset builds it;
- an ``InputSpec`` says how input ``i`` is made from the seed and ``i``
  alone: a prior sample, or (``latent``) a real image's latent noised to a
  random sampler step, the reward model's training data (paper Sec. 5);
- a ``DescriptorSpec`` holds the descriptor settings (sketch, polytope,
  the batch shape of every compiled call).

The inputs are split into shards of consecutive indices; each Ray worker (an
actor: one CPU, or one GPU when the cluster has them) loads the model once and
computes shards; the driver writes each shard atomically as ``.npz`` with the
settings' hash, skips shards already written by an earlier run with the same
settings (a killed job resumes), recomputes shards that do not load or do not
match, and prints a summary. A result is a function of (model, input index,
settings) only: every input comes from its own random stream and every call
has the same shape, so 1 or N workers, any shard size and a resumed run give
the same arrays bit for bit (``tests/unit/test_scale.py``).

Ray is an optional extra (``pip install 'geomlib[scale]'``); nothing else in
geomlib imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import presets
from ..core import seeds
from ..io import atomic_write, config_hash
from .scale_specs import (
    BAD_INPUT,
    DEFAULT_CONDITION,
    FAMILIES,
    INPUT_KINDS,
    MAPS,
    DescriptorSpec,
    InputSpec,
    ModelSpec,
)

__all__ = ["DescriptorSpec", "InputSpec", "ModelSpec", "RunSummary", "load", "main", "run"]


@dataclass
class RunSummary:
    inputs: int
    shards: int
    computed: list[int]  # shard numbers computed by this run (the rest were on disk)
    seconds: float
    workers: int
    per_worker: dict = field(default_factory=dict)  # worker -> {"shards": n, "inputs per s": rate}

    def __str__(self) -> str:
        lines = [
            f"{self.inputs} inputs in {self.shards} shards: {len(self.computed)} computed, "
            f"{self.shards - len(self.computed)} already on disk; "
            f"{self.seconds:.1f} s with {self.workers} workers"
        ]
        for worker, stats in sorted(self.per_worker.items()):
            lines.append(f"  worker {worker}: {stats['shards']} shards, {stats['inputs per s']:.2f} inputs/s")
        return "\n".join(lines)


# --- the model and its inputs, inside a worker ----------------------------------------------------


def _latent_source(model: ModelSpec) -> tuple[str, bool]:
    """``(sd_model, allow_download)``: the weights (``"small"``, a hub id or a folder) and whether the
    stable_diffusion preset lets them be fetched."""
    from ..models.latent_diffusion import LatentDiffusionSettings

    settings = LatentDiffusionSettings.preset(model.preset)
    return (model.weights or settings.sd_model), settings.allow_download


def _toy(spec: ModelSpec):
    from ..models.mlp_denoiser import ToyDDPMSettings, train_toy_ddpm

    return train_toy_ddpm(spec.condition, ToyDDPMSettings.preset(spec.preset))


def _vae(spec: ModelSpec):
    from ..models.vae import VAESettings, train_mnist_vae

    return train_mnist_vae(VAESettings.preset(spec.preset))


def _latent(spec: ModelSpec):
    from ..models.latent_diffusion import (
        LatentDiffusionSettings,
        load_latent_diffusion,
        pretrained_latent_diffusion,
    )

    source, allow_download = _latent_source(spec)
    if source == "small":
        return load_latent_diffusion(LatentDiffusionSettings.preset(spec.preset, sd_model="small"))
    # only the weights: the notebook's other pretrained inputs (prompt files) are not needed
    return pretrained_latent_diffusion(source, allow_download)


def _dit(spec: ModelSpec):
    from ..models.dit import DiTSettings, load_dit

    return load_dit(DiTSettings.preset(spec.preset))


LOADERS = {"toy": _toy, "vae": _vae, "latent": _latent, "dit": _dit}
"""Per family: the generator (``geomlib.models.Generator``) that the notebook's ``preset`` builds."""


class _Generator:
    """A model, loaded on first use: ``inputs(indices)`` and ``descriptors(inputs, timesteps)``.

    Loading happens inside the first task, not in the constructor, so a model
    that cannot load (missing weights) reaches the driver as that task's own
    exception rather than as a dead actor.
    """

    def __init__(self, model: ModelSpec, inputs: InputSpec, settings: DescriptorSpec):
        self.spec, self.input_spec, self.settings = model, inputs, settings
        # plain attributes, not cached_property: that holds a lock Ray cannot pickle (Python 3.11)
        self._model, self._shape, self._pool = None, None, None

    @property
    def model(self):
        if self._model is None:
            self._model, self._shape = self._load()
        return self._model

    @property
    def shape(self) -> tuple[int, ...]:
        self.model  # noqa: B018 (loads it)
        return self._shape

    def _load(self):
        model = LOADERS[self.spec.family](self.spec)
        return model, tuple(model.input_shape)

    def inputs(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs ``(n, *shape)`` and each one's timestep (the map's, or its noise level)."""
        spec = self.input_spec
        if spec.kind == "prior":
            noise = [seeds.rng(spec.seed, "scale-prior", int(i)).standard_normal(self.shape) for i in indices]
            return np.stack(noise).astype(np.float32), np.full(len(indices), self.spec.timestep)
        return self._noised(indices)

    def _image_pool(self):
        """Noised inputs draw from: the MNIST test digits (small model) or the folder's image files."""
        from ..data import image_files, mnist_32

        if self._pool is None:
            if self.input_spec.images is None:
                self._pool = mnist_32(self.input_spec.seed)[2]
            else:
                self._pool = image_files(self.input_spec.images)
        return self._pool

    def _noised(self, indices):
        import torch

        from ..data import load_square_image

        pool = self._image_pool()
        scheduler = self.model.scheduler
        scheduler.set_timesteps(self.input_spec.sampler_steps)
        levels = scheduler.timesteps.numpy()
        images, steps, noise = [], [], []
        for i in indices:
            rng = seeds.rng(self.input_spec.seed, "scale-noised", int(i))
            pick = int(rng.integers(len(pool)))
            # one image file at a time: a folder of real images does not fit in memory at 512 px
            if isinstance(pool, np.ndarray):
                images.append(pool[pick])
            else:
                image = load_square_image(pool[pick], self.model.image_size)
                if self.model.vae.config.in_channels == 1:  # a grayscale model: luma (ITU-R BT.601)
                    image = image @ np.array([0.299, 0.587, 0.114], np.float32)
                images.append(image)
            steps.append(int(rng.choice(levels)))
            noise.append(rng.standard_normal(self.shape))
        # one image per encoder call: a batch of 1 and a batch of 5 round differently, and an input's
        # bits must not depend on which shard holds it
        latents = torch.as_tensor(np.concatenate([self.model.encode(image[None]) for image in images]))
        x_t = scheduler.add_noise(
            latents, torch.as_tensor(np.stack(noise), dtype=torch.float32), torch.as_tensor(steps)
        )
        return x_t.numpy().astype(np.float32), np.asarray(steps)

    def analysed_map(self, timestep: int):
        """The generator's own map (``Generator.analysed_map``); decoders take no timestep."""
        spec = self.spec
        if spec.map == "decoder":
            return self.model.analysed_map("decoder")
        condition = None if spec.family == "toy" else spec.condition  # a toy's "condition" is its dataset
        return self.model.analysed_map(spec.map, condition=condition, timestep=int(timestep))

    def compute(self, shard: int, indices: np.ndarray) -> dict:
        """One shard: its inputs, their timesteps and descriptors, and the seconds it took."""
        start = time.perf_counter()
        inputs, timesteps = self.inputs(indices)
        values = self.descriptors(inputs, timesteps)
        return {
            "shard": shard,
            "index": indices,
            "timestep": timesteps,
            "inputs": inputs,
            **values,
            "seconds": time.perf_counter() - start,
        }

    def descriptors(self, inputs: np.ndarray, timesteps: np.ndarray) -> dict[str, np.ndarray]:
        from ..core.local_geometry import local_geometry

        out = {name: np.empty(len(inputs)) for name in self.settings.descriptors}
        # the decoder and VAE maps do not depend on the timestep: one group
        groups = timesteps if self.spec.map != "decoder" else np.zeros_like(timesteps)
        # the model's own memory rule, as in one process (a pretrained pipeline: one latent per call and
        # a few sketch rows per vectorized VJP); its chunk caps this run's
        options = dict(getattr(self.model, "geometry_options", {}))
        chunk = min(self.settings.chunk, options.pop("chunk_size", self.settings.chunk))
        for level in np.unique(groups):
            members = np.flatnonzero(groups == level)
            # every compiled call sees exactly `chunk` inputs, so an input's bits do not depend on
            # how many shared its shard (a batch of 3 and a batch of 4 round differently)
            padded = np.concatenate(
                [inputs[members], np.repeat(inputs[members[-1:]], -len(members) % chunk, axis=0)]
            )
            geom = local_geometry(
                self.analysed_map(int(level)),
                padded,
                has_aux=True,
                descriptors=self.settings.descriptors,
                sketch=self.settings.sketch(),
                polytope=self.settings.polytope(),
                chunk_size=chunk,
                progress=False,
                **options,
            )
            for name in out:
                out[name][members] = getattr(geom, name)[: len(members)]
        return out


# --- the driver -----------------------------------------------------------------------------------


def _settings_record(model: ModelSpec, inputs: InputSpec, settings: DescriptorSpec, shard_size: int) -> dict:
    return {
        "model": asdict(model),
        "inputs": asdict(inputs),
        "descriptors": asdict(settings),
        "shard": shard_size,
    }


def _shard_path(out: Path, shard: int) -> Path:
    return out / f"shard-{shard:06d}.npz"


def _valid_shard(path: Path, indices: np.ndarray, digest: str, names) -> bool:
    """A shard on disk that loads, has every array for exactly its indices, and these settings."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return (
                str(data["settings"]) == digest
                and np.array_equal(data["index"], indices)
                and all(data[name].shape == (len(indices),) for name in names)
            )
    except Exception:  # a truncated, corrupt or foreign file: recompute it
        return False


def _write_shard(path: Path, result: dict, digest: str) -> None:
    arrays = {k: v for k, v in result.items() if k not in ("shard", "seconds")}
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, settings=np.array(digest), **arrays)


@contextlib.contextmanager
def _ray_cluster(workers: int, address: str | None):
    """Ray for one run: a cluster the caller already started is used and left running; otherwise this
    run starts its own (a local one, or a connection to ``address``) and shuts it down afterwards, on
    success or failure, with the local one's session folder (Ray's logs and sockets), which lives in a
    temporary folder of its own rather than Ray's shared one."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    session = None
    try:
        if address is None:
            # a local cluster; a small object store (results are a few arrays per shard); a short folder
            # name, as Ray's socket paths must stay under the system's 107 characters
            session = tempfile.mkdtemp(prefix="geomlib-ray-")
            ray.init(
                num_cpus=max(workers, os.cpu_count() or 1),
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=256 * 2**20,
                _temp_dir=session,
            )
        else:
            ray.init(address=address, log_to_driver=False)
        yield ray
    finally:
        ray.shutdown()
        if session is not None:
            shutil.rmtree(session, ignore_errors=True)


def _compute_pending(ray, model, inputs, settings, shards, pending, workers, write, progress) -> dict:
    """The ``pending`` shards computed on ``workers`` Ray actors, each result handed to ``write`` as it
    comes; returns, per worker, the shards, inputs and seconds it computed."""
    per_worker: dict[int, dict] = {}
    resources = ray.cluster_resources()
    gpus = 1 if resources.get("GPU", 0) >= 1 else 0
    slots = int(resources.get("GPU" if gpus else "CPU", 0))
    if workers > slots:
        kind = "GPUs" if gpus else "CPUs"
        raise ValueError(
            f"workers={workers} exceeds the Ray cluster's {slots} {kind}; use workers <= {slots}"
        )
    # a worker process that dies (killed, out of memory) is restarted and its shard recomputed;
    # a shard is a function of its indices alone, so the arrays do not change
    actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=3, max_task_retries=3)(_Generator)
    pool = [actor.remote(model, inputs, settings) for _ in range(min(workers, len(pending)))]
    queue = list(pending)
    running = {}
    for w, handle in enumerate(pool):
        if queue:
            s = queue.pop(0)
            running[handle.compute.remote(s, shards[s])] = w
    from tqdm.auto import tqdm

    bar = tqdm(total=len(pending), desc="shards", disable=not progress)
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        w = running.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayTaskError as error:
            bar.close()
            if isinstance(error.cause, BAD_INPUT):  # its own one sentence
                raise error.cause from None
            raise
        write(result)
        stats = per_worker.setdefault(w, {"shards": 0, "inputs": 0, "seconds": 0.0})
        stats["shards"] += 1
        stats["inputs"] += len(result["index"])
        stats["seconds"] += result["seconds"]
        bar.update()
        if queue:
            s = queue.pop(0)
            running[pool[w].compute.remote(s, shards[s])] = w
    bar.close()
    return per_worker


def run(
    model: ModelSpec,
    inputs: InputSpec,
    settings: DescriptorSpec,
    out: str | Path,
    *,
    workers: int = 1,
    shard_size: int = 64,
    address: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Compute the descriptors of ``model`` at ``inputs`` into ``out`` (shard files), resuming if possible.

    workers: Ray actors, each with one CPU, or one GPU when the cluster has
    GPUs. address: a running cluster (``"auto"``, ``"ray://host:10001"``);
    None starts a local one. Returns the summary (also printed when
    ``progress``).
    """
    model.check()
    inputs.check(model)
    settings.check()
    for name, value in (("workers", workers), ("shard_size", shard_size)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder; {str(out)!r} is a file")
    record = json.loads(json.dumps(_settings_record(model, inputs, settings, shard_size)))  # tuples as lists
    digest = config_hash(record)
    manifest = out / "settings.json"
    if manifest.exists() and json.loads(manifest.read_text()) != record:
        raise ValueError(
            f"out folder {str(out)!r} holds a run with other settings ({manifest}); choose another folder"
        )
    shards = np.array_split(np.arange(inputs.count), range(shard_size, inputs.count, shard_size))
    pending = [
        s
        for s, idx in enumerate(shards)
        if not _valid_shard(_shard_path(out, s), idx, digest, settings.descriptors)
    ]
    start = time.perf_counter()
    per_worker: dict[int, dict] = {}
    if pending:

        def write(result):
            if not manifest.exists():  # written with the first result: a run that fails first leaves nothing
                with atomic_write(manifest) as tmp:
                    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
            _write_shard(_shard_path(out, result["shard"]), result, digest)

        with _ray_cluster(workers, address) as ray:
            per_worker = _compute_pending(
                ray, model, inputs, settings, shards, pending, workers, write, progress
            )
    for stats in per_worker.values():
        stats["inputs per s"] = stats["inputs"] / max(stats["seconds"], 1e-9)
    summary = RunSummary(inputs.count, len(shards), pending, time.perf_counter() - start, workers, per_worker)
    if progress:
        print(summary)
    return summary


def load(out: str | Path) -> dict[str, np.ndarray]:
    """Every shard of a finished run, concatenated in input order: index, timestep, inputs, descriptors."""
    out = Path(out)
    files = sorted(out.glob("shard-*.npz"))
    if not files:
        raise FileNotFoundError(f"no shard files in {str(out)!r}")
    parts = [dict(np.load(f, allow_pickle=False)) for f in files]
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "settings"}
    order = np.argsort(merged["index"], kind="stable")
    manifest = out / "settings.json"
    expected = json.loads(manifest.read_text())["inputs"]["count"] if manifest.exists() else len(order)
    if len(order) != expected:  # a killed or still running job: say so rather than return a part
        raise ValueError(
            f"the run in {str(out)!r} is incomplete: {len(order)} of {expected} inputs on disk; "
            "call scale.run again with the same settings to finish it"
        )
    return {k: v[order] for k, v in merged.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m geomlib.tools.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--family", required=True, choices=FAMILIES)
    parser.add_argument("--preset", default="default", choices=presets.PRESET_NAMES)
    parser.add_argument("--map", default=None, help="default: the family's first map (MAPS)")
    parser.add_argument("--timestep", type=int, default=0)
    parser.add_argument(
        "--condition",
        default=None,
        help="dataset (toy; default dino), prompt (latent; default none) or class label (dit; default 0)",
    )
    parser.add_argument(
        "--weights", default=None, help="latent: small, a hub id or a folder (default: the preset's)"
    )
    parser.add_argument("--inputs", default="prior", choices=INPUT_KINDS)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", default=None, help="noised inputs of a pretrained model: image folder")
    parser.add_argument("--sampler-steps", type=int, default=50)
    parser.add_argument("--descriptors", default="psi,nu,delta")
    parser.add_argument("--sketch-k", type=int, default=None)
    parser.add_argument("--polytope-k", type=int, default=4)
    parser.add_argument("--polytope-r", type=float, default=1e-4)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--address", default=None, help="a running Ray cluster (default: start a local one)")
    args = parser.parse_args(argv)
    map_name = MAPS[args.family][0] if args.map is None else args.map
    condition = DEFAULT_CONDITION[args.family] if args.condition is None else args.condition
    if args.family == "dit":
        if not str(condition).lstrip("-").isdigit():
            parser.error(
                f"argument --condition: a DiT's condition is its class label (an int); got {condition!r}"
            )
        condition = int(condition)
    try:
        run(
            ModelSpec(args.family, args.preset, map_name, args.timestep, condition, args.weights),
            InputSpec(args.inputs, args.count, args.seed, args.images, args.sampler_steps),
            DescriptorSpec(
                tuple(name.strip() for name in args.descriptors.split(",")),
                args.sketch_k,
                args.polytope_k,
                args.polytope_r,
                args.seed,
                args.chunk,
            ),
            args.out,
            workers=args.workers,
            shard_size=args.shard_size,
            address=args.address,
        )
    except BAD_INPUT as error:  # argparse's one line and exit status 2
        parser.error(str(error))


if __name__ == "__main__":
    main()
