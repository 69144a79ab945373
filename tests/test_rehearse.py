"""`./repro rehearse` on CPU with tiny step counts and scaled inputs: every rehearsed training path
builds, steps with a finite loss, decodes its layout through the loader, and lands in the table."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PYTHONPATH = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))   # the project, then the caller's


def test_cpu_rehearsal_writes_the_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1", "REPRO_LOADER_WORKERS": "0"}
    out = subprocess.run([sys.executable, "-m", "reference_impls.common.rehearse", "--device", "cpu", "--steps", "1",
                          "--warmup", "0", "--scale", "0.125", "--workers", "0", "--out", str(tmp_path)],
                         env=env, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    res = json.loads((tmp_path / "rehearsal.json").read_text())
    papers = {r["paper"] for r in res["rows"]}
    assert {"cam", "deeplab", "detection", "show_and_tell", "wavenet"} <= papers
    for r in res["rows"]:
        assert r["error"] is None and r["finite_loss"], r
        assert r["step_s"] > 0 and r["rate"] > 0 and r["input_rate"] > 0 and isinstance(r["input_bound"], bool)
        assert r["scaled"] and r["projected_hours"] is None          # a scaled run projects nothing
    md = (tmp_path / "rehearsal.md").read_text()
    assert "| deeplab |" in md and "input-bound" in md and "not projected" in md and "not rehearsed" in md


def test_projection_is_schedule_times_step_time():
    from reference_impls.common import rehearse
    paths = {p.what: p for p in rehearse._paths()}
    p = paths["DeepLab-ResNet-101 ASPP-L MSC, VOC train_aug"]
    assert (p.resolution, p.batch_size, p.schedule_iters) == (321, 10, 20_000)
    row = {"paper": "deeplab", "path": p.what, "resolution": 321, "batch": 10, "step_s": 0.9, "rate": 10 / 0.9,
           "unit": "img", "peak_gib": 1.0, "input_rate": 5.0, "workers": 4, "input_bound": True,
           "projected_hours": p.schedule_iters * 0.9 / 3600, "schedule": p.schedule, "paper_resolution": 321,
           "paper_batch": 10, "scaled": False}
    md = rehearse.table({"device": "X", "date": "d", "torch": "t", "steps": 200, "warmup": 10, "scale": 1.0,
                         "rows": [row], "left": {}})
    assert "| deeplab |" in md and "5.0 h" in md and "**yes**" in md
