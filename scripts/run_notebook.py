"""Execute a notebook from its jupytext source with papermill; store the result atomically.

    python scripts/run_notebook.py toy_ddpm --preset default --output notebooks/toy_ddpm.ipynb
    python scripts/run_notebook.py toy_ddpm --preset smoke --output tests/golden/toy_ddpm.ipynb
    python scripts/run_notebook.py toy_ddpm -p grid_size 128 --output /tmp/toy.ipynb

The source of truth is ``notebooks/<name>.py`` (jupytext percent format).
Parameters are checked against the notebook's settings before anything runs.
Papermill's timing metadata is dropped so reruns diff only where results
change. The run's preset,
parameters and date go into the notebook's metadata (``geomlib``), which
``scripts/collect_claims.py`` prints beside each ledger. ``--drop-images``
leaves out the inline figures (the regression references need only text).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import os
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "geomlib"
sys.path.insert(0, str(ROOT))

from geomlib import presets  # noqa: E402
from geomlib.io import atomic_write, run_figures_dir  # noqa: E402


def parse_value(text: str):
    """A parameter value from the command line: a Python literal, else the plain string."""
    if text.strip().lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
        return float(text)  # not literals, but what a reader means (and the settings then refuse)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def strip_run_metadata(nb, drop_images: bool = False) -> None:
    """Drop timings (and, if asked, images); stable cell ids, so reruns diff only where results change."""
    nb.metadata.pop("papermill", None)
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:03d}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if drop_images and cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs if "image/png" not in out.get("data", {})]


def report_durations(nb, slowest: int = 4) -> None:
    """Print the run's total seconds and its slowest cells (papermill's timings, dropped afterwards)."""
    timed = [
        (cell.metadata.get("papermill", {}).get("duration") or 0.0, cell.source.strip().splitlines()[0])
        for cell in nb.cells
        if cell.cell_type == "code" and cell.source.strip()
    ]
    print(f"{sum(d for d, _ in timed):.0f} s in {len(timed)} code cells; slowest:")
    for seconds, first_line in sorted(timed, reverse=True)[:slowest]:
        print(f"  {seconds:7.1f} s  {first_line[:80]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", help="notebook name, e.g. toy_ddpm")
    parser.add_argument("--preset", default="default", choices=presets.PRESET_NAMES)
    parser.add_argument("--output", required=True, type=Path, help="where to write the executed .ipynb")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument(
        "--drop-images", action="store_true", help="leave the inline figures out of the output"
    )
    args = parser.parse_args(argv)

    source = ROOT / "notebooks" / f"{args.name}.py"
    if not source.is_file():
        available = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
        parser.error(f"no notebook {args.name!r}; available: {available}")
    parameters = {"preset": args.preset}
    allowed = presets.parameter_names(args.name)
    for name, value in args.parameter:
        if name not in allowed:
            parser.error(f"unknown parameter {name!r} for {args.name}; allowed: {allowed}")
        parameters[name] = parse_value(value)
    try:
        presets.resolve(args.name, args.preset, **{k: v for k, v in parameters.items() if k != "preset"})
    except (TypeError, ValueError) as error:  # one line naming the parameter, exit status 2
        parser.error(f"argument -p/--parameter: {error}")

    # The figures go to a staging folder and move into place only after the whole notebook ran, so
    # an interrupted run leaves the stored notebook and figures as they were (old, never a mix).
    overridden = len(parameters) > 1  # anything besides the preset
    figures = run_figures_dir(args.preset, overridden)  # figures/ for the default run only
    created = [folder for folder in (figures, *figures.parents) if not folder.exists()]
    figures.mkdir(parents=True, exist_ok=True)
    try:
        execute(source, parameters, figures, args)
    except BaseException:
        for folder in created:  # innermost first; a folder the run made stays only if it holds something
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    print(f"wrote {args.output}")
    return 0


def execute(source: Path, parameters: dict, figures: Path, args) -> None:
    """Run the notebook, write it to ``args.output`` and move its figures into ``figures``."""
    with tempfile.TemporaryDirectory(dir=figures, prefix=f".staging-{args.name}-") as staging:
        os.environ["GEOMLIB_FIGURES"] = staging  # the kernel inherits it
        notebook = jupytext.read(source)
        executed = papermill.execute_notebook(
            notebook,
            None,
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
        report_durations(executed)
        strip_run_metadata(executed, drop_images=args.drop_images)
        executed.metadata["geomlib"] = {
            "preset": args.preset,
            "parameters": {k: repr(v) for k, v in parameters.items() if k != "preset"},
            "date": datetime.date.today().isoformat(),
        }
        with atomic_write(args.output) as tmp:
            nbformat.write(executed, str(tmp))
        for figure in sorted(Path(staging).glob("*.png")):
            os.replace(figure, figures / figure.name)  # the same file system: each move is atomic


if __name__ == "__main__":
    sys.exit(main())
