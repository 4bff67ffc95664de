"""Commands leave nothing behind that they created: Ray's session folders, a failed run's figure folder."""

import shutil
import tempfile
from pathlib import Path

import pytest

# one Ray cluster at a time: `make test` runs every Ray test on the same worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("ray")

ROOT = Path(__file__).resolve().parents[2]


def _ray_folders() -> set[Path]:
    temp = Path(tempfile.gettempdir())
    return set(temp.glob("geomlib-ray-*")) | set((temp / "ray").glob("session_*"))


def test_a_scale_run_shuts_down_the_ray_it_started_and_removes_its_folders_on_failure(monkeypatch):
    ray = pytest.importorskip("ray")
    from geomlib.tools import scale

    ray.shutdown()  # whatever an earlier test left running
    before = _ray_folders()

    def fail(*args, **kwargs):
        assert ray.is_initialized() and _ray_folders() - before, "the run's cluster was not started"
        raise RuntimeError("a worker failed")

    monkeypatch.setattr(scale, "_compute_pending", fail)
    with pytest.raises(RuntimeError, match="a worker failed"):
        scale.run(
            scale.ModelSpec("toy", "smoke", "eps", 10, "dino"),
            scale.InputSpec("prior", 4),
            scale.DescriptorSpec(descriptors=("psi",)),
            tempfile.mkdtemp(),
            progress=False,
        )
    assert not ray.is_initialized()
    assert _ray_folders() == before


def test_a_cluster_the_caller_started_is_left_running():
    ray = pytest.importorskip("ray")
    from geomlib.tools import scale

    ray.shutdown()
    session = tempfile.mkdtemp(prefix="test-ray-")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, _temp_dir=session)
    try:
        with scale._ray_cluster(1, None) as cluster:
            assert cluster.is_initialized()
        assert ray.is_initialized()
    finally:
        ray.shutdown()
        shutil.rmtree(session, ignore_errors=True)


def _run_notebook_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_notebook", ROOT / "scripts" / "run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failed_notebook_run_leaves_no_figure_folder_it_created(tmp_path, monkeypatch):
    """`run_notebook.py` with a setting changed writes figures/custom/; a run that fails in the notebook
    removes the folders it made (and writes no notebook)."""
    run_notebook = _run_notebook_script()
    monkeypatch.delenv("GEOMLIB_FIGURES")
    monkeypatch.setenv("GEOMLIB_ROOT", str(tmp_path))  # figures/ under a scratch project root

    def fail(*args, **kwargs):
        assert (tmp_path / "figures" / "custom").is_dir()
        raise RuntimeError("a cell failed")

    monkeypatch.setattr(run_notebook.papermill, "execute_notebook", fail)
    output = tmp_path / "out.ipynb"
    argv = ["toy_ddpm", "--preset", "smoke", "-p", "grid_size", "3", "--output", str(output)]
    with pytest.raises(RuntimeError, match="a cell failed"):
        run_notebook.main(argv)
    assert not output.exists()
    assert not (tmp_path / "figures").exists(), "the failed run left its figures folder behind"

    (tmp_path / "figures").mkdir()  # a folder that was there before the run stays
    with pytest.raises(RuntimeError, match="a cell failed"):
        run_notebook.main(argv)
    assert (tmp_path / "figures").is_dir() and not (tmp_path / "figures" / "custom").exists()
