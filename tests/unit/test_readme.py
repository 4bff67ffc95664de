"""The README's named findings say what the stored notebooks' ledgers say."""

import re
from pathlib import Path

import nbformat
import pytest

from geomlib.tools.report import printed_summary

ROOT = Path(__file__).resolve().parents[2]
FINDING = re.compile(r"^- \*\*(?P<verdict>[^*]+)\*\*.*<!-- (?P<notebook>\w+):(?P<key>[\w.]+) -->$")


def _findings() -> list[dict]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- findings:start -->", 1)[1].split("<!-- findings:end -->", 1)[0]
    bullets = [line for line in block.splitlines() if line.startswith("- ")]
    found = [FINDING.match(line) for line in bullets]
    assert all(found), f"a finding without its verdict or ledger key: {bullets[found.index(None)]}"
    return [m.groupdict() for m in found]


def test_the_readme_names_findings_of_each_verdict():
    verdicts = {f["verdict"].lower() for f in _findings()}
    assert verdicts == {"reproduced", "not reproduced", "inconclusive"}


@pytest.mark.parametrize("finding", _findings(), ids=lambda f: f"{f['notebook']}:{f['key']}")
def test_each_finding_has_the_verdict_of_its_ledger_row(finding):
    notebook = nbformat.read(ROOT / "notebooks" / f"{finding['notebook']}.ipynb", as_version=4)
    ledger = printed_summary(notebook)["ledger"]
    assert finding["key"] in ledger, f"{finding['key']} is not a row of {finding['notebook']}'s ledger"
    assert ledger[finding["key"]] == finding["verdict"].lower()
