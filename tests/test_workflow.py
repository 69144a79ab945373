"""The nightly workflow parses and runs exactly the commands the README documents."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def readme_nightly_commands() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Nightly", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return {line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("./repro")}


def test_workflow_parses_and_calls_the_documented_commands():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    triggers = wf.get("on", wf.get(True))          # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and triggers["schedule"][0]["cron"]
    jobs = wf["jobs"]
    assert jobs["full-gpu"]["runs-on"] == ["self-hosted", "gpu"]
    called = {step["run"].strip() for job in jobs.values() for step in job["steps"]
              if "run" in step and step["run"].strip().startswith("./repro")}
    assert called == readme_nightly_commands()
    uploads = [s for job in jobs.values() for s in job["steps"] if str(s.get("uses", "")).startswith(
        "actions/upload-artifact")]
    assert len(uploads) == 2 and all("benchmark.json" in s["with"]["path"] for s in uploads)
    saved = [s for job in jobs.values() for s in job["steps"] if str(s.get("uses", "")).startswith(
        "actions/cache/save")]
    assert all(s["with"]["path"] == "reports/out/history.sqlite" for s in saved) and len(saved) == 2


def test_repro_knows_every_documented_command():
    repro = (ROOT / "repro").read_text()
    for cmd in readme_nightly_commands():
        sub = cmd.split()[1]
        assert re.search(rf"^\s*{sub}\)", repro, re.M), f"./repro has no '{sub}' command"
