"""Collect every stored notebook's claims ledger into one file (``CLAIMS.md`` by default), and the
counts of verdicts per notebook into the README's "Results at a glance" table.

    python scripts/collect_claims.py [--output CLAIMS.md]

Reads ``notebooks/*.ipynb`` as they are stored (the runs ``make figures``
made): the output of each notebook's cell tagged ``claims-ledger`` and the
preset, parameters and date its run recorded. Nothing is recomputed: the
ledger is what the stored notebook shows.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomlib.io import atomic_write  # noqa: E402
from geomlib.tools.report import printed_summary  # noqa: E402

ORDER = (
    "toy_ddpm",
    "vae_mnist",
    "dit",
    "stable_diffusion",
    "hidden_gaussian",
    "reward_guidance",
    "local_intrinsic_dimension",
    "subspace_editing",
)
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
# geomlib.tools.ledger.KINDS; every row but a primary test starts "*kind:*" or "*sensitivity (key):*"
KINDS = ("claim", "sensitivity", "reading", "check", "question")


def row_counts(table: str) -> dict[str, Counter]:
    """``{kind: Counter(verdict)}`` over the rows of a ledger table."""
    counts = {kind: Counter() for kind in KINDS}
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| claim |"):
            continue
        kind = next((k for k in KINDS[1:] if line.startswith((f"| *{k}:*", f"| *{k} ("))), "claim")
        verdict = next((v for v in VERDICTS if line.rstrip().endswith(f"**{v}** |")), None)
        if verdict is None:
            raise ValueError(f"a ledger row has no verdict: {line[:80]}")
        counts[kind][verdict] += 1
    return counts


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _tally(counts: Counter) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS)


def notebook_ledger(path: Path) -> tuple[str, dict] | None:
    """The Markdown table of the notebook's ``claims-ledger`` cell and the run's metadata, if any."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "claims-ledger" in cell.metadata.get("tags", []):
            for output in cell.get("outputs", []):
                table = output.get("data", {}).get("text/markdown")
                if table:
                    return "".join(table), dict(notebook.metadata.get("geomlib", {}))
    return None


def title_of(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return path.stem


def gate_outcomes(path: Path) -> dict[str, str]:
    """``{model: "passed" | "failed"}`` for every quality gate the stored run's summary reports."""
    summary = printed_summary(nbformat.read(path, as_version=4))

    def gates(section: dict, prefix: str = "") -> dict:
        """Every gate in a (nested) summary, named by its key, less ``quality_gate``, after its parents'
        (a summary per model, e.g. ``{"pixel": {"quality_gate": ...}}``, names it "pixel")."""
        found = {}
        for key, value in section.items():
            if not isinstance(value, dict):
                continue
            name = f"{prefix} {key.replace('quality_gate', '').strip('_').replace('_', ' ')}".strip()
            if "quality_gate" in key and "passed" in value:
                found[name] = "passed" if value["passed"] else "failed"
            elif "quality_gate" in key:  # one gate per model: {"dino seed 0": {"passed": ...}, ...}
                found |= {
                    f"{name} {model}".strip(): "passed" if gate["passed"] else "failed"
                    for model, gate in value.items()
                    if isinstance(gate, dict) and "passed" in gate
                }
            else:
                found |= gates(value, name)
        return found

    per_model = summary.get("quality_gate")
    if isinstance(per_model, dict) and "passed" not in per_model:  # the ledger's gates, by model name
        return gates({"quality_gate": per_model})
    return gates(summary)


def quality_gates(path: Path) -> str:
    """The models' quality gates the notebook's stored run reports (keys holding ``quality_gate`` in its
    checked summary, each a dict with ``passed``): "passed", "failed", or one word per model; "-" if
    none is measured."""
    words = gate_outcomes(path)
    return "; ".join(f"{name}: {word}" if name else word for name, word in words.items()) or "-"


GLANCE_START, GLANCE_END = "<!-- results-at-a-glance:start -->", "<!-- results-at-a-glance:end -->"


# the notebooks as the README's table names them (short, so the table fits a phone's width)
SHORT_NAMES = {
    "toy_ddpm": "Toy 2D DDPM",
    "vae_mnist": "beta-VAE",
    "dit": "DiT",
    "stable_diffusion": "Stable Diffusion",
    "hidden_gaussian": "Hidden Gaussian",
    "reward_guidance": "Reward guidance",
    "local_intrinsic_dimension": "Local intrinsic dim.",
    "subspace_editing": "Editing, watermarks",
}


def failed_gates(path: Path) -> str:
    """The table's gate cell: "none" when every model the notebook gates passes, else the ones that fail."""
    outcomes = gate_outcomes(path)
    if not outcomes:
        return "-"
    failed = [name or "the model" for name, word in outcomes.items() if word == "failed"]
    if len(failed) > 3:
        return f"{len(failed)} of {len(outcomes)} models"
    return ", ".join(failed) if failed else "none"


def glance(notebooks: Path) -> str:
    """The README's table of the sources' claims per notebook and verdict, the models below their quality
    gate, and a line on the rows counted apart (generated, between the two markers)."""
    rows = [
        "| notebook | reproduced | not reproduced | inconclusive | models below their gate |",
        "|---|---|---|---|---|",
    ]
    totals = {kind: Counter() for kind in KINDS}
    for path in _ordered(notebooks):
        found = notebook_ledger(path)
        if found is None:
            continue
        counts = row_counts(found[0])
        for kind in KINDS:
            totals[kind].update(counts[kind])
        cells = [str(counts["claim"][v]) for v in VERDICTS] + [failed_gates(path)]
        name = SHORT_NAMES.get(path.stem, title_of(path))
        rows.append(f"| [{name}](notebooks/{path.name}) | " + " | ".join(cells) + " |")
    rows.append("| **all** | " + " | ".join(f"**{totals['claim'][v]}**" for v in VERDICTS) + " | |")
    checks, questions = totals["check"], totals["question"]
    apart = sum(totals["sensitivity"].values()) + sum(totals["reading"].values())
    rows.append(
        f"\nCounted apart: {_plural(sum(checks.values()), 'check')} ({checks['reproduced']} passed), "
        f"{_plural(sum(questions.values()), 'question')} of this project's own, and {apart} sensitivity "
        "rows and readings of figures."
    )
    return "\n".join(rows)


def update_readme(readme: Path, notebooks: Path) -> None:
    text = readme.read_text()
    if GLANCE_START not in text or GLANCE_END not in text:
        raise ValueError(f"{readme} lacks the {GLANCE_START} ... {GLANCE_END} markers for the results table")
    before, rest = text.split(GLANCE_START, 1)
    _, after = rest.split(GLANCE_END, 1)
    with atomic_write(readme) as tmp:
        tmp.write_text(f"{before}{GLANCE_START}\n{glance(notebooks)}\n{GLANCE_END}{after}")


def _ordered(notebooks: Path) -> list[Path]:
    return sorted(
        notebooks.glob("*.ipynb"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem)
    )


def collect(notebooks: Path) -> str:
    sections, totals = [], {kind: Counter() for kind in KINDS}
    for path in _ordered(notebooks):
        found = notebook_ledger(path)
        if found is None:
            continue
        table, meta = found
        for kind, counts in row_counts(table).items():
            totals[kind].update(counts)
        parameters = ", ".join(f"{k}={v}" for k, v in meta.get("parameters", {}).items())
        run = f"preset `{meta.get('preset', '?')}`" + (f" ({parameters})" if parameters else "")
        sections.append(
            f"## [{title_of(path)}](notebooks/{path.name})\n\n"
            f"Run: {run}, {meta.get('date', 'date not recorded')}.\n\n{table}\n"
        )
    claims = sum(totals["claim"].values())
    counts = (
        f"the sources' claims, each by its one primary test: {_tally(totals['claim'])} ({claims} tests "
        "stand behind these counts). Counted apart: "
        f"{_plural(sum(totals['sensitivity'].values()), 'sensitivity row')} "
        f"({_tally(totals['sensitivity'])}), "
        "a claim tested again under another choice (the other level-set rule, the other map, another "
        "tolerance), marked *sensitivity (key of its primary row):*; "
        f"{_plural(sum(totals['reading'].values()), 'reading')} ({_tally(totals['reading'])}) of a figure "
        "whose text the sources do not hold, marked *reading:*; "
        f"{_plural(sum(totals['check'].values()), 'check')} ({_tally(totals['check'])}), rows that cannot "
        "fail when the code is right (e.g. nu of an exact linear score is its rank by construction), marked "
        f"*check:*; and {_plural(sum(totals['question'].values()), 'question')} the sources do not ask "
        f"({_tally(totals['question'])}), marked *question:*"
    )
    header = (
        "# Claims ledger\n\n"
        "Every claim of the paper, its rebuttal and the related papers that a notebook tests, with the "
        "quantity, the criterion (stated before the numbers) and the verdict computed from this project's "
        "stored runs. Generated by `scripts/collect_claims.py` from the notebooks' `claims-ledger` cells "
        "(`make figures` runs it); do not edit by hand. A verdict is *reproduced* when the criterion holds "
        "(at every seed, where there are several), *not reproduced* when its opposite holds, and "
        "*inconclusive* otherwise. The runs are the `default` preset's small models trained on a CPU, "
        "not the paper's pretrained ones: see each notebook for what that means for a claim.\n\n"
        f"In all, {counts}.\n\n"
    )
    return header + "\n".join(sections)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--output", type=Path, default=ROOT / "CLAIMS.md")
    parser.add_argument(
        "--readme", type=Path, default=ROOT / "README.md", help="whose results table to update"
    )
    args = parser.parse_args(argv)
    text = collect(args.notebooks)
    with atomic_write(args.output) as tmp:
        tmp.write_text(text)
    update_readme(args.readme, args.notebooks)
    print(f"wrote {args.output} and the results table of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
