"""savefig writes where GEOMLIB_FIGURES says, atomically, and refuses bad names."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from geomlib.tools import plotting
from geomlib.tools.plotting import add_title, plot_image_rows, savefig


def test_savefig_writes_a_png_into_the_figures_folder(scratch_folders):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert savefig("fig0_test", fig) is None
    written = list((scratch_folders / "figures").iterdir())
    assert [p.name for p in written] == ["fig0_test.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_savefig_writes_the_title_into_the_png(scratch_folders):
    """The file says what it shows when copied out of the project: PIL reads the title's text chunk."""
    from PIL import Image

    fig, axes = plt.subplots(1, 2)
    fig.suptitle("psi level sets\n(rebuttal Fig. 5), beta-VAE")
    savefig("fig0_titled", fig)
    with Image.open(scratch_folders / "figures" / "fig0_titled.png") as image:
        assert image.text["Title"] == "psi level sets (rebuttal Fig. 5), beta-VAE"
    plt.close(fig)


def test_figure_title_reads_the_suptitle_else_the_title_of_its_only_panel():
    from geomlib.tools.plotting import figure_title

    fig, axes = plt.subplots(1, 2)
    axes[0].set_title("left")
    assert figure_title(fig) == ""  # a panel's title does not name a figure of two
    fig.suptitle("  the   whole\nfigure ")
    assert figure_title(fig) == "the whole figure"
    single, ax = plt.subplots()
    single.colorbar(ax.imshow([[0, 1]]))  # a colorbar is not a panel
    ax.set_title("alone")
    assert figure_title(single) == "alone"
    plt.close(fig)
    plt.close(single)


@pytest.mark.parametrize("name", ["", "a/b", "figure.png"])
def test_savefig_refuses_paths_and_extensions(name):
    with pytest.raises(ValueError, match="bare file name"):
        savefig(name)


def test_plot_against_marks_an_all_missing_column_instead_of_failing():
    """A log-x panel of a column with no finite value (too few examples per level) broke the layout."""
    import numpy as np
    import pandas as pd

    from geomlib.tools.plotting import plot_against

    frame = pd.DataFrame({"N": [10, 20], "R2": [0.1, 0.5], "spearman within t": [np.nan, np.nan]})
    fig = plot_against(frame, "N", ["R2", "spearman within t"], logx=True)
    assert [t.get_text() for t in fig.axes[1].texts] == ["no finite values"]
    assert len(fig.axes[0].lines) == 1
    plt.close(fig)


def test_only_the_default_run_writes_figures(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from geomlib import io, presets
    from geomlib.tools.plotting import savefig

    monkeypatch.delenv("GEOMLIB_FIGURES")
    monkeypatch.setattr(io, "project_root", lambda: tmp_path)
    monkeypatch.setattr(io, "_notebook_run", None)
    runs = [
        ("smoke", {}, "figures/smoke"),
        ("default", {"grid_size": 64}, "figures/custom"),  # a default run with a setting changed
        ("paper", {}, "figures/paper"),
        ("default", {}, "figures"),
    ]
    for preset, overrides, folder in runs:
        presets.from_notebook("toy_ddpm", preset, {"grid_size": presets.PRESET, **overrides})
        savefig(f"from_{preset}_{len(overrides)}", plt.figure())
        assert (tmp_path / folder / f"from_{preset}_{len(overrides)}.png").is_file()
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == ["from_default_0.png"]


def test_image_rows_title_sits_above_every_image():
    """A title drawn over the first row of images hides it (issue #25: dit_samples_per_class)."""
    import numpy as np

    rows = {str(i): np.zeros((10, 32, 32)) for i in range(10)}
    fig = plot_image_rows(rows, title="samples per class, a long description of the model")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    assert all(ax.get_window_extent(renderer).y1 <= title_bottom for ax in fig.axes)


def test_add_title_moves_the_panels_below_the_title():
    fig, axes = plt.subplots(2, 3, figsize=(8, 4))
    fig.tight_layout()  # a plotting function's own layout, before the title
    add_title(fig, "a title added afterwards, as the notebooks do")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_bottom = fig._suptitle.get_window_extent(renderer).y0
    assert all(ax.get_window_extent(renderer).y1 <= title_bottom for ax in axes.flat)


def test_a_saved_figure_names_the_notebook_and_preset_that_made_it(tmp_path, monkeypatch):
    """Inside a notebook run every saved figure gets one line under its axes naming the notebook and
    preset (twice saved, still one line); outside a run, none."""
    import matplotlib.pyplot as plt

    from geomlib import io, presets
    from geomlib.tools.plotting import SOURCE_STAMP, savefig

    monkeypatch.setenv("GEOMLIB_FIGURES", str(tmp_path))
    monkeypatch.setattr(io, "_notebook_run", None)
    monkeypatch.setattr(io, "_notebook_name", None)
    plain = plt.figure()
    savefig("outside_a_run", plain)
    assert not plain.texts
    presets.from_notebook("toy_ddpm", "smoke", {"grid_size": 64})
    fig, ax = plt.subplots()
    savefig("in_a_run", fig)
    savefig("in_a_run", fig)
    stamps = [text.get_text() for text in fig.texts if text.get_gid() == SOURCE_STAMP]
    assert stamps == ["notebooks/toy_ddpm.ipynb, preset 'smoke' with settings changed"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    stamp_top = fig.texts[0].get_window_extent(renderer).y1
    assert stamp_top <= ax.get_tightbbox(renderer).y0 + 1  # under the axes and their labels
    # an x label that hangs below the figure's edge (no tight layout): the line goes under it, not over it
    low, low_ax = plt.subplots()
    low.subplots_adjust(bottom=0.02)
    low_ax.set_xlabel("a label below the edge", fontsize=20)
    savefig("label_below_the_edge", low)
    low.canvas.draw()
    renderer = low.canvas.get_renderer()
    assert low_ax.get_tightbbox(renderer).y0 < 0  # the label does hang below the edge
    assert low.texts[0].get_window_extent(renderer).y1 <= low_ax.get_tightbbox(renderer).y0 + 1
    plt.close("all")


def test_every_saved_figure_has_no_text_below_the_house_minimum_and_a_title_no_smaller_than_its_panels(
    scratch_folders,
):
    """The house rule on rendered figures: a level-set grid (its per-bin titles were 6 pt) and a panel
    row (its figure title was smaller than the panel titles)."""
    import matplotlib.text

    rng = np.random.default_rng(0)
    figures = [
        plotting.plot_level_sets(rng.random((60, 28, 28)), rng.standard_normal(60), 4, 3, "psi", source="s"),
        plotting.plot_against(
            pd.DataFrame({"N": [1, 2, 3], "a": [0.1, 0.2, 0.3], "b": [1.0, 0.5, 0.2]}),
            "N",
            ["a", "b"],
            title="t",
        ),
    ]
    for number, fig in enumerate(figures):
        plotting.savefig(f"house_{number}", fig)
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
        assert min(sizes) >= plotting.SMALLEST_TEXT
        panels = [ax.title.get_fontsize() for ax in fig.axes if ax.get_title().strip()]
        assert fig._suptitle.get_fontsize() >= max(panels)
