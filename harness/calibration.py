"""Calibration records: what the smoke experiments measured per seed, kept as data.

`./repro calibrate -m <paper> --seeds 0-4` runs the paper's smoke tests once per seed (as
`./repro reproduce` runs them: two xdist workers, one thread each on a 2-core machine) and
writes `suites/<paper>/calibration.json`:

    {"paper": "deeplab", "date": "...", "git_sha": "...", "threads": {...}, "benchmark": {...},
     "claims": {"camvid_test_miou": {"seeds": [0, 1, 2], "value": [22.6, 21.5, 22.9],
                                     "than": null, "controls": {"position_prior": [17.0, 17.0, 17.0]}}}}

Floors and margins are derived from it by one rule, checked by `rule_problems` (and by the
project test `tests/test_calibration.py` for every suite). With d the direction's sign
(+1 higher is better, -1 lower), per calibration seed s:

* verdict_s   the claim's own verdict on that seed's numbers (target, `than`, every control
              beaten by `margin`), computed exactly as a run computes it.
* proxy claim:    M = worst method value over seeds, C = best control value over seeds and
                  controls, gap G = d(M - C). The floor F must sit inside the gap with a quarter
                  of it to spare on each side: d(F - C) >= G/4 and d(M - F) >= G/4. Suggested
                  floor: the midpoint (M + C) / 2.
* relative claim: a_s = d(value_s - than_s), the advantage on seed s. The required margin
                  (`tolerance`) must be at most half the smallest advantage and at most
                  mean(a) - sd(a): a seed one standard deviation worse than the average still
                  passes. Suggested margin: the smaller of the two, rounded down.
* an asserted claim: every calibration seed's verdict passes, and G > 0 (proxy).
* `known_failure`: no calibration seed's verdict passes.
* `asserted = false` (a mixed finding): some seeds pass and some fail; the run reports it as
                  "mixed" with the per-seed values.

Seed 7 is the held-out seed: it never enters a calibration.
"""
from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from .claims import Claim

CALIBRATION_FILE = "calibration.json"
HELD_OUT_SEED = 7
MIN_SEEDS = 3


class CalibrationError(ValueError):
    """A calibration record is malformed."""


@dataclass
class ClaimCalibration:
    claim_id: str
    seeds: list[int]
    value: list[float]
    than: list[float] | None
    controls: dict[str, list[float]]

    def verdicts(self, claim: Claim) -> list[bool]:
        out = []
        for i in range(len(self.seeds)):
            than = self.than[i] if self.than is not None else None
            ok, _ = claim.check(self.value[i], than if claim.kind == "relative" else None)
            controls = {k: v[i] for k, v in self.controls.items()}
            missing = [k for k in claim.controls if k not in controls]
            out.append(bool(ok) and not missing and not claim.controls_not_beaten(self.value[i], controls))
        return out

    def advantages(self, claim: Claim) -> list[float]:
        """Relative claims: d(value - than) per seed."""
        d = 1.0 if claim.direction == "higher" else -1.0
        return [d * (v - t) for v, t in zip(self.value, self.than or [])]

    def control_gap(self, claim: Claim) -> tuple[float, float, float]:
        """(worst method value M, best control value C, gap d(M - C)) over all seeds and controls."""
        d = 1.0 if claim.direction == "higher" else -1.0
        worst = min(self.value, key=lambda v: d * v)
        ctl = [v for name in claim.controls for v in self.controls.get(name, [])]
        if not ctl:
            return worst, float("nan"), float("nan")
        best = max(ctl, key=lambda v: d * v)
        return worst, best, d * (worst - best)

    def per_seed_text(self, claim: Claim) -> str:
        parts = []
        for i, s in enumerate(self.seeds):
            p = f"seed {s}: {self.value[i]:.4g}"
            if self.than is not None:
                p += f" vs {self.than[i]:.4g}"
            ctl = ", ".join(f"{k} {v[i]:.4g}" for k, v in self.controls.items())
            parts.append(p + (f" ({ctl})" if ctl else ""))
        return "; ".join(parts)


def path_for(suite_dir: str | Path) -> Path:
    return Path(suite_dir) / CALIBRATION_FILE


def load_calibration(suite_dir: str | Path) -> dict[str, ClaimCalibration]:
    """The suite's calibration per claim id ({} when the suite has no record)."""
    path = path_for(suite_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for cid, c in data["claims"].items():
            n = len(c["seeds"])
            value = [float(v) for v in c["value"]]
            than = None if c.get("than") is None else [float(v) for v in c["than"]]
            controls = {k: [float(x) for x in v] for k, v in (c.get("controls") or {}).items()}
            if len(value) != n or (than is not None and len(than) != n) or any(len(v) != n for v in controls.values()):
                raise CalibrationError(f"{path}: claim '{cid}': every list must have one entry per seed ({n})")
            if HELD_OUT_SEED in c["seeds"]:
                raise CalibrationError(f"{path}: claim '{cid}': seed {HELD_OUT_SEED} is held out and "
                                       "must not be calibrated on")
            out[cid] = ClaimCalibration(cid, [int(s) for s in c["seeds"]], value, than, controls)
        return out
    except CalibrationError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise CalibrationError(f"{path}: malformed calibration record ({type(e).__name__}: {e})") from None


def record_from_rows(paper: str, rows: list[dict], meta: dict) -> dict:
    """Build a calibration record from the result rows of one run per seed."""
    by_claim: dict[str, dict] = {}
    for r in sorted(rows, key=lambda r: (r["claim_id"], r["seed"])):
        if r["paper"] != paper or r.get("tier") != "smoke" or r.get("value") is None:
            continue
        c = by_claim.setdefault(r["claim_id"], {"seeds": [], "value": [], "than": [], "controls": {}})
        if r["seed"] in c["seeds"]:
            continue
        c["seeds"].append(r["seed"])
        c["value"].append(_num(r["value"]))
        c["than"].append(_num(r.get("than")))
        for k, v in (r.get("controls") or {}).items():
            c["controls"].setdefault(k, []).append(_num(v))
    for c in by_claim.values():
        if all(t is None for t in c["than"]):
            c["than"] = None
        n = len(c["seeds"])
        c["controls"] = {k: v for k, v in c["controls"].items() if len(v) == n}
    return {"paper": paper, **meta, "claims": by_claim}


def _num(v):
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def save_calibration(suite_dir: str | Path, record: dict) -> Path:
    path = path_for(suite_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def needs_calibration(claim: Claim) -> bool:
    """Smoke claims about what a learned method achieves: their floors and margins come from data."""
    return (claim.tier == "smoke" and claim.kind in ("proxy", "relative") and claim.is_learned
            and not claim.not_checked)


def status_of_unasserted(claim: Claim, cal: ClaimCalibration | None) -> tuple[bool, str]:
    """(is_mixed, per-seed text) for a claim with asserted = false."""
    if cal is None:
        return False, ""
    v = cal.verdicts(claim)
    mixed = 0 < sum(v) < len(v)
    return mixed, f"{sum(v)}/{len(v)} calibration seeds favour the paper ({cal.per_seed_text(claim)})"


def suggestion(claim: Claim, cal: ClaimCalibration) -> str:
    """The floor / margin the rule suggests, as text."""
    if claim.kind == "proxy":
        m, c, gap = cal.control_gap(claim)
        if math.isnan(c):
            return f"no controls declared (worst method value {m:.4g})"
        if not gap > 0:
            return f"no floor: a control ({c:.4g}) reaches the worst method value ({m:.4g})"
        return f"floor {(m + c) / 2:.4g} (worst method {m:.4g}, best control {c:.4g})"
    if claim.kind == "relative" and cal.than is not None:
        a = cal.advantages(claim)
        sd = statistics.stdev(a) if len(a) > 1 else 0.0
        tol = min(min(a) / 2, statistics.mean(a) - sd)
        if tol < 0 or min(a) <= 0:
            return f"not assertable: advantages {', '.join(f'{x:.3g}' for x in a)}"
        return f"margin <= {_round_down(tol):.3g} (advantages {', '.join(f'{x:.3g}' for x in a)})"
    return ""


def _round_down(x: float) -> float:
    if x <= 0:
        return 0.0
    e = 10 ** (math.floor(math.log10(x)) - 1)
    return math.floor(x / e) * e


def rule_problems(claim: Claim, cal: ClaimCalibration | None) -> list[str]:
    """What is wrong with this claim's floor / margin / status against its calibration record."""
    if not needs_calibration(claim):
        return []
    where = f"claim '{claim.id}'"
    probs = []
    if claim.asserted and not claim.known_failure and not claim.controls:
        probs.append(f"{where}: asserted learned smoke claim declares no controls")
    if cal is None:
        return probs + [f"{where}: no calibration record (run ./repro calibrate -m {claim.paper})"]
    if len(cal.seeds) < MIN_SEEDS:
        probs.append(f"{where}: calibrated on {len(cal.seeds)} seed(s); at least {MIN_SEEDS} are needed")
    missing = [k for k in claim.controls if k not in cal.controls]
    if missing:
        probs.append(f"{where}: calibration lacks control(s) {missing}: rerun ./repro calibrate")
        return probs
    verdicts = cal.verdicts(claim)
    per_seed = cal.per_seed_text(claim)
    if claim.known_failure:
        if any(verdicts):
            probs.append(f"{where}: known_failure, yet {sum(verdicts)}/{len(verdicts)} calibration seeds pass "
                         f"({per_seed}): mixed findings take asserted = false")
        return probs
    if not claim.asserted:
        if all(verdicts) or not any(verdicts):
            probs.append(f"{where}: asserted = false but the calibration is not mixed "
                         f"({sum(verdicts)}/{len(verdicts)} seeds pass): assert it or mark known_failure")
        return probs
    if not all(verdicts):
        probs.append(f"{where}: asserted, but {len(verdicts) - sum(verdicts)}/{len(verdicts)} calibration seeds "
                     f"fail ({per_seed})")
    d = 1.0 if claim.direction == "higher" else -1.0
    if claim.kind == "proxy":
        m, c, gap = cal.control_gap(claim)
        if not gap > 0:
            probs.append(f"{where}: a control ({c:.4g}) reaches the worst calibrated value ({m:.4g})")
        elif not (d * (claim.value - c) >= gap / 4 - 1e-9 and d * (m - claim.value) >= gap / 4 - 1e-9):
            probs.append(f"{where}: floor {claim.value:.4g} is not inside the control gap with a quarter to spare "
                         f"(worst method {m:.4g}, best control {c:.4g}; suggested {(m + c) / 2:.4g})")
    elif claim.kind == "relative":
        a = cal.advantages(claim)
        if not a:
            probs.append(f"{where}: relative claim calibrated without its comparison arm ('than')")
        else:
            sd = statistics.stdev(a) if len(a) > 1 else 0.0
            if claim.tolerance > min(a) / 2 + 1e-12 or claim.tolerance > statistics.mean(a) - sd + 1e-12:
                probs.append(f"{where}: margin {claim.tolerance:.4g} exceeds what the seed spread allows "
                             f"({suggestion(claim, cal)})")
    return probs
