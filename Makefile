## The companion's commands (each creates or updates the virtual environment .venv/ on first use):
##
##   make figures        run every notebook with the `default` preset: figures/, notebooks/*.ipynb, CLAIMS.md
##   make models         train the models the `default` notebooks load, into data/models/ (hours; ONLY=name)
##   make <notebook>     run one notebook, e.g. `make toy_ddpm` (and the notebooks whose models it reuses)
##   make lab            JupyterLab on the notebooks (the .py sources open as paired notebooks)
##   make site           the companion site in build/site/ (from the stored notebooks; offline)
##   make test           ruff, the unit tests, the `smoke` runs against their references, the site in Chromium
##   make golden         refresh tests/golden/ after an intended change of results
##   make bench          timings of geomlib against plain references
##   make gpu-check      the paper paths on a CUDA GPU at reduced counts: seconds per input, peak memory
##   make clean          remove build stamps (the next `make figures` reruns every notebook)
##   make clean-cache    remove trained models and computed arrays (data/cache/)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
KERNEL := geomlib
NOTEBOOKS := toy_ddpm vae_mnist dit stable_diffusion hidden_gaussian reward_guidance local_intrinsic_dimension subspace_editing your_own_model

# The same platform, threads and plotting backend everywhere, so runs are identical. JAX runs on the CPU
# unless the command line says otherwise: `make <notebook> JAX_PLATFORMS=cuda` after
# `pip install -e '.[gpu]'` (a command-line value overrides this one and is exported).
export JAX_PLATFORMS := cpu
export OMP_NUM_THREADS := 2
# PyTorch's OpenMP threads sleep when idle instead of spinning: a PyTorch and a JAX job side by side (make
# test's two workers, make -j2 figures) measured 10x slower with spinning threads; the numbers do not change
export OMP_WAIT_POLICY := PASSIVE
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

GEOMLIB_SOURCES := $(shell find geomlib -name '*.py' 2>/dev/null)
STAMPS := $(NOTEBOOKS:%=build/stamps/%.done)

.DEFAULT_GOAL := help
.PHONY: help venv models figures claims lab site browser test lint unit golden bench gpu-check clean clean-cache $(NOTEBOOKS)

help:
	@sed -n 's/^## \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (geomlib)" >/dev/null
	touch $@

venv: $(INSTALLED)

# A notebook is re-run when its source, geomlib or the data change; the stamp
# (not the tracked .ipynb, whose mtime git does not keep) records the last run.
build/stamps/%.done: notebooks/%.py $(GEOMLIB_SOURCES) scripts/run_notebook.py data/datasaurus_dino.tsv $(wildcard data/models/manifest.json) | $(INSTALLED)
	$(PY) scripts/run_notebook.py $* --preset default --output notebooks/$*.ipynb
	@mkdir -p $(@D) && touch $@

# The reward notebook reuses the toy, DiT and Stable Diffusion models from the cache those notebooks
# fill: they run first, so `make -j2 figures` never trains one model twice.
build/stamps/reward_guidance.done: build/stamps/toy_ddpm.done build/stamps/dit.done build/stamps/stable_diffusion.done
# The editing notebook reuses the MNIST DDPM of the LID notebook and the latent model of Stable Diffusion.
build/stamps/subspace_editing.done: build/stamps/local_intrinsic_dimension.done build/stamps/stable_diffusion.done

$(NOTEBOOKS): %: build/stamps/%.done

# Resumable: a killed run resumes where it stopped, a shipped model is skipped (scripts/train_models.py).
models: $(INSTALLED)
	$(PY) scripts/train_models.py $(if $(ONLY),--only $(ONLY))

figures: $(STAMPS)
	$(PY) scripts/collect_claims.py

claims: $(INSTALLED)
	$(PY) scripts/collect_claims.py

# JupyterLab with the geomlib kernel; figures render inline (no headless backend here). The jupytext
# sources (*.py) are hidden: a reader opens the stored notebook, with its outputs, and jupytext keeps
# the pair in step. As root (a container) JupyterLab needs --allow-root.
LAB_FLAGS := --notebook-dir=notebooks --ContentsManager.hide_globs='["__pycache__", "*.pyc", "*.py", ".ipynb_checkpoints"]'
LAB_FLAGS += $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(INSTALLED)
	env -u MPLBACKEND $(VENV)/bin/jupyter lab $(LAB_FLAGS) $(LAB_ARGS)

site: $(INSTALLED)
	$(PY) scripts/build_site.py

# The site test drives Debian's chromium; install it when it is missing (as root, or with sudo).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing Debian's chromium and chromium-driver for the site test"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium chromium-driver >/dev/null; \
		else sudo apt-get install -y -q chromium chromium-driver >/dev/null; fi; }

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: $(INSTALLED)
	$(PY) -m pytest tests/unit

# tests/golden reruns each notebook with the `smoke` preset and compares its summary with the stored
# reference, number by number; every test keeps its caches and figures in a scratch folder. The tests
# run on TEST_WORKERS processes (pytest-xdist): the notebooks on one (they share a cache), the Ray
# tests on one (one cluster at a time), the rest wherever a worker is free.
TEST_WORKERS ?= 2
test: lint site browser $(INSTALLED)
	$(PY) -m pytest tests -p no:cacheprovider --durations=25 -n $(TEST_WORKERS) --dist loadgroup

golden: $(INSTALLED)
	@scratch=$$(mktemp -d) && \
	for name in $(NOTEBOOKS); do \
		GEOMLIB_CACHE=$$scratch/cache GEOMLIB_FIGURES=$$scratch/figures \
		$(PY) scripts/run_notebook.py $$name --preset smoke --drop-images --output tests/golden/$$name.ipynb || \
		{ rm -rf $$scratch; exit 1; }; \
	done; rm -rf $$scratch

# SD 1.4's UNet and VAE, DiT-XL/2 and CLIP ViT-L/14 + the aesthetic head with random weights, on CUDA (a few
# minutes); on a machine without a GPU it says so in one line.
gpu-check: $(INSTALLED)
	$(PY) scripts/gpu_check.py

bench: $(INSTALLED)
	$(PY) benchmarks/bench_toy.py
	$(PY) benchmarks/bench_vae.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_dit.py
	$(PY) benchmarks/bench_sd.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_capture.py
	$(PY) benchmarks/bench_pipelines.py

clean:
	rm -rf build/stamps build/site build/site-src build/site-screenshots .pytest_cache

clean-cache:
	rm -rf data/cache
