"""`benchmarks/gpu_suite.py --dry-run`: the one command runs every section and reports them all.

The dry run is the GPU suite at toy sizes on the CPU, launched as a user launches it (a fresh
process from the repository root). The test reads its JSON and Markdown back: the device is
named, every section is there without an error, section 1 holds every variant under every
option set with the three target ratios, section 5 one row per builder of spt.methods, and
section 6 the ViT step of I-JEPA and DINOv2 under both attentions and both compile settings.
Speed is not asserted; the figures are the GPU's business.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "benchmarks" / "gpu_suite.py"
VARIANTS = [
    "raw",
    "raw, views on device",
    "LightningModule",
    "spt.Module",
    "spt.Module + 3 callbacks",
    "e2e uint8 DataLoader + 3 callbacks",
    "e2e DeviceLoader + 3 callbacks",
]
DRY_GRID = ["eager", "channels_last+compile"]
# Builders that existed when the suite was written: each must be measured, not just listed.
MEASURED = {
    "barlow_twins", "byol", "dino", "mae", "moco_v2", "moco_v3", "nnclr", "simclr", "simsiam",
    "supcon", "supervised", "swav", "vicreg",
}  # fmt: skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("gpu_suite") / "suite.json"
    done = subprocess.run(
        [sys.executable, str(SUITE), "--dry-run", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), out.with_suffix(".md").read_text()


def test_the_report_names_the_device_and_holds_every_section_without_error(dry_run):
    report, _ = dry_run
    meta = report["meta"]
    assert meta["dry_run"] is True
    assert meta["device"].startswith("CPU")
    assert meta["torch"]
    assert meta["lightning"]
    assert list(report["sections"]) == ["1", "2", "3", "4", "5", "6"]
    for key, section in report["sections"].items():
        assert "error" not in section, (key, section.get("traceback"))
        assert section["rows"], key
        for row in section["rows"]:
            if not str(row.get("status", "ok")).startswith("error"):
                assert set(section["columns"]) <= set(row), (key, row)


def test_section_1_times_every_variant_under_every_option_set(dry_run):
    section = dry_run[0]["sections"]["1"]
    timed = {(row["options"], row["variant"]) for row in section["rows"]}
    assert timed == {(option, variant) for option in DRY_GRID for variant in VARIANTS}
    assert all(row["steps_per_s"] > 0 for row in section["rows"])
    for option in DRY_GRID:
        (raw,) = [r for r in section["rows"] if (r["options"], r["variant"]) == (option, "raw")]
        assert raw["vs_raw"] == 1.0
    names = {t["name"] for t in section["targets"]}
    for option in DRY_GRID:
        assert {
            f"spt.Module / raw ({option})",
            f"+3 callbacks / spt.Module ({option})",
            f"e2e DeviceLoader + callbacks / raw ({option})",
        } <= names
    assert all(t["met"] is None for t in section["targets"])  # toy sizes are not judged


def test_sections_2_to_4_report_their_measures(dry_run):
    sections = dry_run[0]["sections"]
    assert [r["views_per_s"] > 0 for r in sections["2"]["rows"]] == [True, True]
    assert sections["2"]["targets"][0]["threshold"] == 150_000
    ntxent = sections["3"]["rows"]
    assert [(r["batch"], r["dim"]) for r in ntxent] == [(64, 16), (64, 64)]
    assert all(r["loss_diff"] < 1e-4 for r in ntxent)  # both formulas compute the same loss
    (knn,) = sections["4"]["rows"]
    assert knn["seconds_per_10k"] > 0


def test_section_5_has_one_row_per_builder_of_spt_methods(dry_run):
    import spt

    builders = {
        name for name in spt.methods.__all__ if inspect.isfunction(getattr(spt.methods, name))
    }
    rows = {row["method"]: row for row in dry_run[0]["sections"]["5"]["rows"]}
    assert set(rows) == builders
    for name in MEASURED & builders:
        assert rows[name]["status"] == "ok", rows[name]
        assert rows[name]["steps_per_s"] > 0


def test_section_6_times_ijepa_and_dinov2_with_each_attention_and_compile_setting(dry_run):
    section = dry_run[0]["sections"]["6"]
    rows = {(r["method"], r["attention"], r["compile"]): r for r in section["rows"]}
    expected = {
        (method, attention, compiled)
        for method in ("ijepa", "dinov2")
        for attention in ("sdpa", "naive")
        for compiled in ("off", "on")
    }
    assert set(rows) == expected
    for key, row in rows.items():
        assert row["status"] == "ok", row
        assert row["steps_per_s"] > 0, key
        assert row["params_m"] > 0, key
    assert [rows[m, "sdpa", "off"]["vs_base"] for m in ("ijepa", "dinov2")] == [1.0, 1.0]
    assert "ViT" in section["title"]


def test_the_markdown_table_has_every_section(dry_run):
    report, table = dry_run
    assert table.startswith("# GPU suite (dry run")
    assert f"Device: {report['meta']['device']}" in table
    for key, section in report["sections"].items():
        assert f"## {section['title']}" in table, key
    assert table.count("|---") >= 6  # one table per section
