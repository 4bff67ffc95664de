"""The closing summary: what a reader sees, what the regression check keeps, and how two are compared."""

import json

import nbformat
import numpy as np
import pytest

from geomlib.tools.report import (
    ABSOLUTE_TOLERANCE,
    RELATIVE_TOLERANCE,
    SUMMARY_KEY,
    plain,
    printed_summary,
    summary_differences,
    summary_of,
)

REFERENCE = {
    "model": "small latent diffusion",
    "slice_median": {"decoder": {"psi": -155.03, "nu": 31.2}},
    "corruption_spearman": {"unet:noise:nu": 0.6605},
    "counts": [2, 8, 2],
    "vendi": [None, 1.19, 1.18],
    "rho": "nan",
    "gate": {"accuracy": 0.95, "passed": True},
    "ledger": {"slice_nu_higher_outside_anchor_hull": "reproduced"},
}


def moved(summary, path, value):
    """A deep copy of ``summary`` with the leaf at ``path`` (keys and indices) set to ``value``."""
    copy = json.loads(json.dumps(summary))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def test_a_summary_equal_to_its_reference_has_no_difference():
    assert summary_differences(json.loads(json.dumps(REFERENCE)), REFERENCE) == []


def test_a_number_moved_within_the_tolerance_passes_and_beyond_it_fails():
    path = ("corruption_spearman", "unet:noise:nu")
    expected = REFERENCE["corruption_spearman"]["unet:noise:nu"]
    inside = expected * (1 + 0.9 * RELATIVE_TOLERANCE)
    outside = expected * (1 + 1.5 * RELATIVE_TOLERANCE)
    assert summary_differences(moved(REFERENCE, path, inside), REFERENCE) == []
    (difference,) = summary_differences(moved(REFERENCE, path, outside), REFERENCE)
    assert "corruption_spearman.unet:noise:nu" in difference and "0.6605" in difference


def test_a_value_on_a_rounding_boundary_cannot_fail():
    # 0.6605 prints as 0.661 or as 0.66 depending on its last bits; the check compares the numbers
    path = ("corruption_spearman", "unet:noise:nu")
    for value in (0.66049999, 0.66050001):
        assert summary_differences(moved(REFERENCE, path, value), REFERENCE) == []


def test_noise_around_zero_passes_within_the_absolute_tolerance():
    reference = {"shift": 0.0}
    assert summary_differences({"shift": 0.5 * ABSOLUTE_TOLERANCE}, reference) == []
    assert summary_differences({"shift": 10 * ABSOLUTE_TOLERANCE}, reference) != []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("ledger", "slice_nu_higher_outside_anchor_hull"), "inconclusive"),  # a verdict
        (("counts", 1), 9),  # a count
        (("gate", "passed"), False),  # a gate
        (("model",), "another model"),  # a string
        (("vendi", 0), 1.2),  # a missing value that appears
        (("rho",), 0.3),  # an undefined correlation that becomes a number
        (("counts", 1), 8.0),  # an integer that becomes a float
    ],
)
def test_anything_but_a_number_must_be_equal(path, value):
    assert len(summary_differences(moved(REFERENCE, path, value), REFERENCE)) == 1


def test_structure_must_be_equal():
    fewer = moved(REFERENCE, ("counts",), [2, 8])
    assert summary_differences(fewer, REFERENCE) == ["summary.counts: 2 entries, the reference has 3"]
    extra = json.loads(json.dumps(REFERENCE)) | {"new": 1}
    assert summary_differences(extra, REFERENCE) == ["summary.new: not in the reference (got 1)"]
    missing = {k: v for k, v in REFERENCE.items() if k != "model"}
    assert summary_differences(missing, REFERENCE)[0].startswith("summary.model: missing")


def test_plain_makes_numpy_values_json_and_spells_out_non_finite_numbers():
    value = plain({"a": np.float32(0.5), "b": np.int64(3), "c": (np.nan, -np.inf), "d": np.bool_(True)})
    assert value == {"a": 0.5, "b": 3, "c": ["nan", "-inf"], "d": True}
    assert type(value["b"]) is int and type(value["a"]) is float
    json.dumps(value, allow_nan=False)  # standard JSON, as notebook metadata must be


def test_a_notebook_run_keeps_the_rounded_text_for_readers_and_the_full_numbers_for_the_check(tmp_path):
    from nbclient import NotebookClient

    cell = nbformat.v4.new_code_cell(
        "from geomlib.tools.report import print_summary\nprint_summary({'psi': 1.23456789, 'n': 3})",
        metadata={"tags": ["summary"]},
    )
    notebook = nbformat.v4.new_notebook(cells=[cell])
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    assert summary_of(notebook) == {"psi": 1.23456789, "n": 3}
    assert printed_summary(notebook) == {"psi": 1.23, "n": 3}
    assert SUMMARY_KEY in notebook.cells[0].outputs[0]["metadata"]


def test_a_notebook_without_its_summary_cell_is_named_in_one_sentence():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    with pytest.raises(ValueError, match="no code cell tagged 'summary'"):
        summary_of(notebook)
