"""Build the companion site: a static HTML book of the stored notebooks, figures, claims and the API.

    python scripts/build_site.py [--output build/site]

Assembles a Sphinx source folder (``build/site-src``) from ``docs/`` (the
configuration, the landing page that includes the README, the API page),
the stored ``notebooks/*.ipynb`` (never executed: their ``default`` outputs
are the content), ``CLAIMS.md`` and ``figures/``, writes the figure gallery,
and runs Sphinx (myst-nb, the book theme) into ``--output``. Nothing is
fetched: the theme's assets and MathJax ship with installed packages. The
output folder is replaced only when the build succeeds.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomlib.tools.report import SUMMARY_TAG  # noqa: E402

# Which notebook made a figure, by its name's prefix (first match wins).
FIGURE_SOURCES = (
    ("fig3_toy_", "toy_ddpm"),
    ("rebuttal_toy_", "toy_ddpm"),
    ("rebuttal_nine_", "toy_ddpm"),
    ("toy_", "toy_ddpm"),
    ("vae_", "vae_mnist"),
    ("dit_", "dit"),
    ("sd_", "stable_diffusion"),
    ("hidden_gaussian_", "hidden_gaussian"),
    ("reward_", "reward_guidance"),
    ("lid_", "local_intrinsic_dimension"),
    ("editing_", "subspace_editing"),
    ("yom_", "your_own_model"),
)
NOTEBOOK_TITLES = {
    "toy_ddpm": "Toy 2D DDPM (Sec. 3)",
    "vae_mnist": "Beta-VAE on MNIST (rebuttal)",
    "dit": "DiT (rebuttal)",
    "stable_diffusion": "Stable Diffusion (Sec. 4)",
    "hidden_gaussian": "Hidden Gaussian structure",
    "reward_guidance": "Reward guidance (Sec. 5)",
    "local_intrinsic_dimension": "Local rank as a local intrinsic dimension",
    "subspace_editing": "Editing and watermarking in the Jacobian's subspaces",
    "your_own_model": "Your own model: psi, nu and delta of any generator",
}


def figure_notebook(name: str) -> str | None:
    return next((notebook for prefix, notebook in FIGURE_SOURCES if name.startswith(prefix)), None)


def slug(heading: str) -> str:
    """MyST's anchor of a heading (``myst_heading_anchors``): lower case, no punctuation, spaces to -."""
    text = re.sub(r"\$[^$]*\$", "", heading.strip())  # inline math is not part of the anchor
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def first_sentence(paragraph: str, limit: int = 240) -> str:
    text = " ".join(paragraph.split())
    match = re.search(r"(?<=[a-z0-9)\]$*])\. ", text[20:])
    sentence = text[: 20 + match.start() + 1] if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 3].rsplit(" ", 1)[0] + "..."


def figure_captions(path: Path) -> dict[str, dict]:
    """Per figure a stored notebook shows: its title (``plotting.savefig`` stores it), the section that
    made it, and what the prose says to see: the paragraph just before it, or, where only a heading
    precedes it, the first paragraph after it in the same section."""
    notebook = nbformat.read(path, as_version=4)
    heading, prose, found, waiting = None, "", {}, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    heading, waiting = line[3:].strip(), []
            paragraphs = [p for p in cell.source.split("\n\n") if p.strip() and not p.startswith("#")]
            prose = first_sentence(paragraphs[0]) if paragraphs else ""
            for name in waiting if prose else ():
                found[name]["prose"] = prose
            waiting = [] if prose else waiting
            continue
        for output in cell.get("outputs", []):
            metadata = output.get("metadata", {}).get("image/png", {})
            name = metadata.get("figure")
            if name:
                found[name] = {"section": heading, "prose": prose, "title": metadata.get("title", "")}
                if not prose:
                    waiting.append(name)
    return found


def gallery(figures: list[Path], notebooks: dict[str, Path]) -> str:
    """A grid of every figure, by notebook, each captioned with its title (which names the model and the
    paper or rebuttal figure it answers), the run's preset, what its prose says to see, and the notebook
    section that made it (linked)."""
    lines = [
        "# Figure gallery",
        "",
        "Every figure in `figures/`, as `make figures` last wrote it (the `default` preset), grouped by the "
        "notebook that made it. Each caption gives the figure's title (the model and the paper or "
        "rebuttal figure it answers), the preset, what the notebook says to look at, and a link to the "
        "section that made it, where the figure sits beside its code and the full prose. Each notebook "
        "can be downloaded with its outputs (the link under its heading, or the download button on its "
        "page).",
        "",
    ]
    by_notebook: dict[str, list[Path]] = {}
    for path in figures:
        notebook = figure_notebook(path.stem)
        if notebook in notebooks:
            by_notebook.setdefault(notebook, []).append(path)
    for notebook, title in NOTEBOOK_TITLES.items():
        if notebook not in by_notebook:
            continue
        captions = figure_captions(notebooks[notebook])
        preset = (
            nbformat.read(notebooks[notebook], as_version=4).metadata.get("geomlib", {}).get("preset", "?")
        )
        lines += [
            f"## {title}",
            "",
            f"From [the notebook](notebooks/{notebook}.ipynb), preset `{preset}`; "
            f"{{download}}`download it with its outputs <notebooks/{notebook}.ipynb>`.",
            "",
        ]
        lines += ["::::{container} gallery-grid", ""]
        for path in sorted(by_notebook[notebook]):
            caption = captions.get(path.stem, {})
            section = caption.get("section")
            where = f"[{section}](notebooks/{notebook}.ipynb#{slug(section)})" if section else "the notebook"
            heading = caption.get("title") or path.stem
            see = f" What to see: {caption['prose']}" if caption.get("prose") else ""
            text = f"**{heading}** (`{path.stem}`, preset `{preset}`).{see} Made in {where}."
            lines += [f":::{{figure}} figures/{path.name}", f":alt: {heading}", "", text, ":::", ""]
        lines += ["::::", ""]
    return "\n".join(lines)


PROGRESS_BAR = re.compile(r"\d+%\|")


def terminal_text(text: str, keep: int = 2) -> str:
    """What a terminal (and JupyterLab) shows of a stream: each line as its last carriage return left it;
    a run of more than ``keep`` finished progress bars (one per model trained) is shortened to its last
    ``keep``, after a line saying how many were left out."""
    lines = []
    for line in text.split("\n"):
        parts = [part for part in line.split("\r") if part]
        lines.append(parts[-1] if parts else "")
    out, run = [], []
    for line in [*lines, None]:
        if line is not None and PROGRESS_BAR.search(line):
            run.append(line)
            continue
        if len(run) > keep:
            out.append(f"[{len(run) - keep} more progress bars]")
        out += run[-keep:] if run else []
        run = []
        if line is not None:
            out.append(line)
    return "\n".join(out)


def for_readers(notebook) -> None:
    """Prepare a stored notebook for the site, in place: what JupyterLab shows, less the test machinery.

    - stream outputs are merged per cell and stream, and each progress bar
      keeps only its final state (the run stores one output per update);
    - the papermill-injected parameters cell and the cell tagged ``summary``
      (the regression check's input) are removed from the page; the stored
      notebook keeps both.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags or SUMMARY_TAG in tags:
            tags.append("remove-cell")
        merged = []
        for output in cell.outputs:
            if output.output_type == "stream" and merged and merged[-1].output_type == "stream":
                if merged[-1].name == output.name:
                    merged[-1].text += output.text
                    continue
            merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                output.text = terminal_text(output.text)
        cell.outputs = merged


def assemble(source: Path) -> None:
    shutil.copytree(ROOT / "docs", source, dirs_exist_ok=True)
    # the README links the guide's pages as docs/<page>.md; on the site they sit beside it
    (source / "README.md").write_text((ROOT / "README.md").read_text().replace("](docs/", "]("))
    notebooks = source / "notebooks"
    notebooks.mkdir()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for_readers(notebook)
        nbformat.write(notebook, notebooks / path.name)
    claims = ROOT / "CLAIMS.md"
    if claims.exists():
        shutil.copy(claims, source / "CLAIMS.md")
    else:
        (source / "CLAIMS.md").write_text("# Claims ledger\n\nNot collected yet: run `make figures`.\n")
    figures = sorted((ROOT / "figures").glob("*.png"))
    (source / "figures").mkdir()
    for path in figures:
        shutil.copy(path, source / "figures" / path.name)
    (source / "gallery.md").write_text(gallery(figures, {p.stem: p for p in notebooks.glob("*.ipynb")}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--source", type=Path, default=ROOT / "build" / "site-src")
    args = parser.parse_args(argv)
    from sphinx.cmd.build import build_main

    if args.source.exists():
        shutil.rmtree(args.source)
    assemble(args.source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=args.output.parent, prefix=".site-"))
    status = build_main(["-b", "html", "-q", "-W", "--keep-going", str(args.source), str(staging)])
    if status != 0:
        shutil.rmtree(staging, ignore_errors=True)
        print("the site did not build; the previous one (if any) is left as it was", file=sys.stderr)
        return status
    if args.output.exists():
        shutil.rmtree(args.output)
    staging.rename(args.output)
    print(f"wrote {args.output}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
