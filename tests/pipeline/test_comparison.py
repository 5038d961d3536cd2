"""Models side by side in a report: the shipped manifests' held-out figures, clip figures, and refusals."""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from workers.pipeline.comparison import BEGIN, END, ComparisonError, faces_table, write_comparison
from workers.pipeline.model import model_folders, models_root, read_manifest

SHIPPED = [read_manifest(folder) for folder in model_folders(models_root())]


def test_faces_table_has_one_row_per_model_with_its_worst_race():
    lines = faces_table(SHIPPED)
    header, rule, *rows = lines
    assert header.count("|") == rule.count("|")  # a well-formed markdown table
    assert len(rows) == len(SHIPPED) >= 2
    for manifest, row in zip(SHIPPED, rows, strict=True):
        races = manifest["metrics"]["adults"]["race_accuracy"]
        worst = min(races, key=races.get)
        assert f"`{manifest['name']}`" in row and f"{worst} {races[worst]:.1%}" in row
        assert f"{manifest['metrics']['adults']['roc_auc']:.3f}" in row


def test_models_scored_on_another_held_out_side_are_refused():
    other = copy.deepcopy(SHIPPED[0])
    other["training_data"]["split"]["seed"] += 1
    with pytest.raises(ComparisonError, match="same held-out side"):
        faces_table([SHIPPED[0], other])


def test_the_section_goes_before_the_model_section_and_is_replaced_not_repeated(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# Model report\n\n## Held-out results\n\nfigures\n\n## Model\n\n- PCA\n")
    clips = {"models": {SHIPPED[0]["name"]: {"labels_agreeing": 41, "delta_p_raw_mean": 0.05}}}
    write_comparison(report, SHIPPED, clips)
    first = report.read_text()
    assert first.index(BEGIN) < first.index("## Model\n") and first.index("figures") < first.index(BEGIN)
    assert "| 41 | 0.0500 |" in first  # the clip row of the one model the clip run measured
    write_comparison(report, SHIPPED, clips)
    assert report.read_text() == first  # writing the same section again changes nothing
    write_comparison(report, SHIPPED, None)
    second = report.read_text()
    assert second.count(BEGIN) == second.count(END) == 1
    assert "| 41 |" not in second and second.endswith("- PCA\n")


def test_compare_models_command_writes_into_the_report_and_refuses_bad_input(tmp_path):
    folder = tmp_path / "default"
    shutil.copytree(model_folders(models_root())[0], folder)
    clips = tmp_path / "clips.json"
    clips.write_text(json.dumps({"totals": {}}))
    before = (folder / "report" / "report.md").read_text()
    with pytest.raises(CommandError, match="no per-model figures"):
        call_command("compare_models", folder, "--clips", clips, stdout=io.StringIO())
    with pytest.raises(CommandError, match="not model folders"):
        call_command("compare_models", folder, "--models", tmp_path, stdout=io.StringIO())
    assert (folder / "report" / "report.md").read_text() == before  # a refusal writes nothing
    call_command("compare_models", folder, stdout=io.StringIO())
    after = (folder / "report" / "report.md").read_text()
    assert after.count(BEGIN) == 1
    assert all(f"`{manifest['name']}`" in after for manifest in SHIPPED)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("compare_models", Path(tmp_path / "nowhere"), stdout=io.StringIO())
