"""Report building from results files, including partial and truncated runs."""
import json

from reports.__main__ import main as reports_main
from reports.build import build_report, load_frame


def _row(claim_id, value, status, **kw):
    return {"run_id": "r1", "paper": "architectures", "claim_id": claim_id, "kind": "exact", "tier": "smoke",
            "metric": "parameters", "unit": "", "value": value, "target": value, "paper_value": value,
            "status": status, "direction": "equal", "tolerance": 0, "dataset": "", "split": "", "seed": 0,
            "device": "cpu", "wall_s": 0.1, "note": "", **kw}


def test_truncated_results_line_is_skipped_and_unmeasured_claims_listed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results-main.jsonl").write_text(json.dumps(_row("vgg16_params", 138357544, "reproduced")) + "\n"
                                            + '{"run_id": "r1", "paper": "archi')  # crash mid-write
    (run / "run.json").write_text(json.dumps({"papers": ["architectures"], "suites_dir": "suites", "tier": "smoke"}))
    df, _ = load_frame(run)
    assert df.loc[df.claim_id == "vgg16_params", "status"].item() == "reproduced"
    not_run = df[df.status == "not run"]
    assert "resnet50_params" in set(not_run.claim_id)
    assert not_run.set_index("claim_id").loc["vgg16_imagenet_acc1", "note"].startswith("full-tier claim")
    # a published number the suite lists but no test measures: "not checked", with the reason
    row = df.set_index("claim_id").loc["alexnet_ilsvrc2012_top5_error"]
    assert row["status"] == "not checked" and "ensemble" in row["note"]
    out = build_report(run)
    assert (out / "report.md").read_text().count("| vgg16_params |") == 1


def test_cli_builds_and_rejects_missing_run(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results-main.jsonl").write_text(json.dumps(_row("vgg16_params", 1, "not reproduced")) + "\n")
    assert reports_main(["build", str(run)]) == 0
    assert "report:" in capsys.readouterr().out
    assert reports_main(["build", str(tmp_path / "nope")]) == 2
