"""CLAIMS.md counts the sources' claims, checks and the project's own questions apart."""

import importlib.util
from pathlib import Path

import pytest

from geomlib.tools.ledger import CHECK, CLAIM, QUESTION, VERDICTS, Claim, Verdict, gated, ledger_markdown

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "collect_claims.py"


def _collect():
    spec = importlib.util.spec_from_file_location("collect_claims", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_are_counted_by_kind_and_verdict():
    rows = [(CLAIM, VERDICTS[0]), (CLAIM, VERDICTS[0]), (CLAIM, VERDICTS[2]), (CHECK, VERDICTS[0])]
    rows += [(QUESTION, VERDICTS[1]), (QUESTION, VERDICTS[2])]
    verdicts = [
        # a claim whose text mentions "*check:*" further in must still count as a claim
        Verdict(Claim(f"k{i}", f"claim {i} (not a *check:*)", "s", "q", "c", kind=kind), "1 | 2", verdict)
        for i, (kind, verdict) in enumerate(rows)
    ]
    counts = _collect().row_counts(ledger_markdown(gated(verdicts, {})))
    assert dict(counts["claim"]) == {"reproduced": 2, "inconclusive": 1}
    assert dict(counts["check"]) == {"reproduced": 1}
    assert dict(counts["question"]) == {"not reproduced": 1, "inconclusive": 1}


def test_a_row_without_verdict_is_refused():
    with pytest.raises(ValueError, match="no verdict"):
        _collect().row_counts("| claim | source |\n|---|---|\n| a | b |")


def _notebook_with_summary(path: Path, summary: dict) -> Path:
    import json

    import nbformat

    cell = nbformat.v4.new_code_cell("print_summary(summary)", metadata={"tags": ["summary"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=json.dumps(summary, indent=1))]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"images": 3}, "-"),
        ({"quality_gate": {"accuracy": 0.7, "passed": False}}, "failed"),
        ({"quality_gate": None, "other": 1}, "-"),  # a pretrained model: not measured
        (
            {"latent_quality_gate": {"passed": True}, "dit_quality_gate": {"passed": False}},
            "latent: passed; dit: failed",
        ),
    ],
)
def test_the_readme_table_reads_each_models_quality_gate_from_the_stored_summary(tmp_path, summary, expected):
    path = _notebook_with_summary(tmp_path / "nb.ipynb", summary)
    assert _collect().quality_gates(path) == expected
