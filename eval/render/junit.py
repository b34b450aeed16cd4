"""The analysis as JUnit XML, for CI servers: one <testcase> per trial, one <testsuite> per
cell, every count attribute equal to what its children say."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from chaos_eval.analysis.analyze import Analysis
from chaos_eval.commands import rerun_command
from chaos_eval.outcomes import TrialStatus

# in the first line of every JUnit file we write: how `analyze --junit` knows one it may replace
MARKER = '<testsuites name="chaos-eval campaign '


def junit_xml(a: Analysis, db: str | Path | None = None) -> str:
    """One <testcase> per trial, one <testsuite> per cell; failures and errors carry the
    reasons and the command that re-runs that trial (`--db db` when one is named)."""
    root = ET.Element(
        "testsuites",
        name=f"chaos-eval campaign {a.campaign.id}",
        tests=str(sum(c.trials for c in a.cells)),
        failures=str(sum(c.failed for c in a.cells)),
        errors=str(sum(c.errors + c.cleanup_failed for c in a.cells)),
        skipped=str(sum(c.unfinished for c in a.cells)),
    )
    by_id = a.by_id
    for cell in a.cells:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=cell.label,
            tests=str(cell.trials),
            failures=str(cell.failed),
            errors=str(cell.errors + cell.cleanup_failed),
            skipped=str(cell.unfinished),
        )
        for tid in cell.trial_ids:
            t = by_id[tid]
            wall = t.wall_s
            case = ET.SubElement(
                suite,
                "testcase",
                classname=cell.label,
                name=f"trial {t.id} rep {t.repetition} ({t.key[:8]})",
                time=str(wall if wall is not None else 0),
            )
            reasons = "; ".join(t.reasons) or t.error
            rerun = f"re-run: {rerun_command(a.campaign.id, t.key, db)}"
            if t.status == TrialStatus.FAILED:
                ET.SubElement(case, "failure", message=reasons or "missed SLO").text = \
                    f"{reasons}\n{rerun}"
            elif t.status in (TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED):
                ET.SubElement(case, "error", message=f"{t.status.value}: {reasons}").text = \
                    f"{reasons}\n{rerun}"
            elif not t.status.is_final:
                ET.SubElement(case, "skipped", message=t.status.value)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
