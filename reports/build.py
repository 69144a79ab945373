"""Results -> pandas -> report.md / report.html / results.csv / plots.

    python -m reports build reports/out/runs/<run-id> [--baseline <run dir|run id|results.csv>]

Rows come from the run's JSON lines; every claim of the run's papers that recorded nothing is
listed as "not run", so nothing is silently dropped. With a baseline, a row whose value moved
the wrong way by more than the claim's tolerance is flagged as a regression.

Like is compared with like: each paper's section opens with a findings table (the finding in
words; the smoke result beside each control measured in the same run and the calibration band
over seeds; the verdict; the full-tier status with the paper's number). A proxy or relative row
never shows the paper's number as though it were comparable: the paper's value is shown only for
claims measured on the paper's dataset and protocol (paper, exact and speed claims). Figures:
method vs controls with seed bands for smoke claims; paper vs reproduced only for full-tier claims.
A negative-control run (--untrained) opens with the list of learned claims that still pass.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd

from harness.calibration import load_calibration
from harness.claims import load_all
from harness.results import (STATUS_NOT_CHECKED, STATUS_NOT_RUN, STATUS_UNTRAINED_FAILS, STATUS_UNTRAINED_PASSES,
                             read_results)

COLUMNS = ["paper", "claim_id", "kind", "tier", "metric", "unit", "paper_value", "target", "value", "than",
           "controls", "best_control", "margin", "status", "learned", "direction", "tolerance", "dataset", "split",
           "seed", "device", "run_mode", "wall_s", "finding", "paper_reference", "note"]
STATUS_ORDER = ["reproduced", "not reproduced", "not reproduced (known)", "reproduced (unexpectedly)", "mixed",
                STATUS_UNTRAINED_PASSES, STATUS_UNTRAINED_FAILS, "recorded", "not run", "not checked"]
STATUS_COLORS = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "not reproduced (known)": "#ef6c00",
                 "reproduced (unexpectedly)": "#6a1b9a", "mixed": "#f9a825", STATUS_UNTRAINED_PASSES: "#b71c1c",
                 STATUS_UNTRAINED_FAILS: "#558b2f", "recorded": "#1565c0", "not run": "#9e9e9e",
                 "not checked": "#616161"}
COMPARABLE_KINDS = ("paper", "exact", "speed")   # measured on the paper's dataset/protocol (or analytic)


def load_frame(run_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    rows = read_results(run_dir)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=COLUMNS)
    papers = set(meta.get("papers") or df["paper"].unique())
    suites_dir = Path(meta.get("suites_dir", "suites"))
    missing = []
    if suites_dir.is_dir():
        measured = set(zip(df["paper"], df["claim_id"]))
        for paper, pc in load_all(suites_dir).items():
            if paper not in papers:
                continue
            for c in pc:
                if (paper, c.id) in measured:
                    continue
                if c.not_checked:     # a published number the suite lists but no test measures
                    status, note = STATUS_NOT_CHECKED, c.not_checked
                else:
                    why = f"{c.tier}-tier claim" + ("" if c.tier == meta.get("tier") or meta.get("tier") == "all"
                                                     else f", run was --tier {meta.get('tier')}")
                    status, note = STATUS_NOT_RUN, why + (f"; {c.known_failure or c.note}"
                                                          if (c.known_failure or c.note) else "")
                missing.append({"paper": paper, "claim_id": c.id, "kind": c.kind, "tier": c.tier,
                                "metric": c.metric, "unit": c.unit, "paper_value": c.shown_paper_value,
                                "target": c.value, "value": None, "status": status,
                                "direction": c.direction, "tolerance": c.tolerance, "dataset": c.dataset,
                                "split": c.split, "note": note, "finding": c.finding, "learned": c.is_learned,
                                "margin": c.margin})
    if missing:
        df = pd.concat([df, pd.DataFrame(missing)], ignore_index=True)
    for col in COLUMNS:
        if col not in df:
            df[col] = None
    df["controls"] = df["controls"].map(lambda c: c if isinstance(c, dict) else {})
    df["best_control"] = [_best_control(c, d) for c, d in zip(df["controls"], df["direction"])]
    # the paper's number only where dataset and protocol match; elsewhere it is context, not a target
    other = ~df["kind"].isin(COMPARABLE_KINDS)
    df.loc[other, "paper_reference"] = df.loc[other, "paper_value"]
    df.loc[other, "paper_value"] = None
    df["status"] = pd.Categorical(df["status"], STATUS_ORDER, ordered=True)
    df = df.sort_values(["paper", "status", "claim_id"], kind="stable").reset_index(drop=True)
    return df, meta


def _best_control(controls: dict, direction) -> str | None:
    """'name value' of the strongest control (the one hardest to beat), or None."""
    vals = {k: float(v) for k, v in (controls or {}).items() if not _nan(v)}
    if not vals:
        return None
    k = (max if direction == "higher" else min)(vals, key=vals.get)
    return f"{k} {_fmt(vals[k])}"


def _controls_text(controls: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in (controls or {}).items()) or "–"


def _resolve_baseline(baseline: str, results_root: Path | None) -> pd.DataFrame:
    p = Path(baseline)
    if not p.exists() and results_root is not None and (results_root / baseline).exists():
        p = results_root / baseline
    if p.is_dir():
        if (p / "results.csv").exists() and not list(p.glob("results-*.jsonl")):
            return pd.read_csv(p / "results.csv")
        return pd.DataFrame(read_results(p))
    if p.suffix == ".csv" and p.exists():
        return pd.read_csv(p)
    raise FileNotFoundError(f"baseline '{baseline}': not a run dir, run id or results.csv")


def flag_regressions(df: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["baseline"] = None
    df["regression"] = False
    if base.empty or "value" not in base:
        return df
    base = base.dropna(subset=["value"]).groupby(["paper", "claim_id"])["value"].last()
    for i, r in df.iterrows():
        key = (r["paper"], r["claim_id"])
        if key not in base.index or r["value"] is None or _nan(r["value"]):
            continue
        b, v, tol = float(base[key]), float(r["value"]), float(r["tolerance"] or 0)
        df.at[i, "baseline"] = b
        worse = {"higher": b - v, "lower": v - b}.get(r["direction"], abs(v - b))
        df.at[i, "regression"] = bool(worse > tol + 1e-12 * max(1.0, abs(b)))
    return df


def _nan(v) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return False


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        v = float(v)
        if v.is_integer() and abs(v) >= 1:
            return f"{int(v):,}"
        return f"{v:.4g}"
    return str(v)


def summary_table(df: pd.DataFrame, width: int = 44) -> str:
    lines = [f"{'paper':<14} {'claim':<{width}} {'paper value':>13} {'reproduced':>12}  status"]
    for _, r in df.iterrows():
        cid = r["claim_id"] if len(r["claim_id"]) <= width else r["claim_id"][: width - 1] + "…"
        flag = "  REGRESSION" if r.get("regression") else ""
        value = _fmt(r["value"])
        if r["kind"] == "relative" and not _nan(r.get("target")) and not _nan(r["value"]):
            value = f"{value} vs {_fmt(r['target'])}"
        lines.append(f"{r['paper']:<14} {cid:<{width}} {_fmt(r['paper_value']):>13} {value:>12}  "
                     f"{r['status']}{flag}")
    learned = [_learned(r) for _, r in df.iterrows()]
    for label, part in (("findings (learned)", df[learned]), ("facts and checks (not learned)", df[[not x for x in learned]]),
                        ("all claims", df)):
        counts = part["status"].value_counts()
        lines.append(f"{label}: " + "  ".join(f"{k}: {int(counts[k])}" for k in STATUS_ORDER if counts.get(k, 0)))
    return "\n".join(lines) + "\n"


def _small_multiples(n: int, w: float = 3.2, h: float = 2.5):
    """A grid of up to 4 columns for `n` panels: (fig, the first n axes)."""
    import matplotlib.pyplot as plt
    ncol = min(4, n)
    fig, axes = plt.subplots(math.ceil(n / ncol), ncol, figsize=(w * ncol, h * math.ceil(n / ncol)), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _save_grid(fig, title: str, path: Path) -> str:
    import matplotlib.pyplot as plt
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path.name


def _calibrations(meta: dict) -> dict:
    """paper -> {claim id -> ClaimCalibration} from the suites' calibration records."""
    suites_dir = Path(meta.get("suites_dir", "suites"))
    out = {}
    for paper in meta.get("papers") or []:
        try:
            out[paper] = load_calibration(suites_dir / paper)
        except ValueError:   # a malformed record is the calibration test's business, not the report's
            out[paper] = {}
    return out


def _band(cal) -> str:
    if cal is None:
        return "–"
    ctl = "; ".join(f"{k} {_fmt(min(v))}–{_fmt(max(v))}" for k, v in cal.controls.items())
    text = f"{_fmt(min(cal.value))}–{_fmt(max(cal.value))}"
    if cal.than is not None:
        text += f" vs {_fmt(min(cal.than))}–{_fmt(max(cal.than))}"
    return f"{text} ({len(cal.seeds)} seeds)" + (f"; {ctl}" if ctl else "")


def findings_table(df: pd.DataFrame, cals: dict) -> pd.DataFrame:
    """Per paper: the learned smoke findings (method vs controls, calibration band, verdict), then
    the full-tier paper claims (status beside the paper's number)."""
    rows = []
    for _, r in df.iterrows():
        learned = _learned(r)
        has_finding = isinstance(r["finding"], str) and bool(r["finding"])
        if str(r["status"]) == "not checked" or r["kind"] not in ("proxy", "relative", "paper") or \
                not (learned or has_finding):
            continue
        result = _fmt(r["value"])
        if r["kind"] == "relative" and not _nan(r["than"]):
            result += f" vs {_fmt(r['than'])}"
        cal = cals.get(r["paper"], {}).get(r["claim_id"])
        finding = r["finding"] if isinstance(r["finding"], str) and r["finding"] else r["claim_id"]
        rows.append({"paper": r["paper"], "finding": finding, "claim_id": r["claim_id"],
                     "tier": r["tier"], "result": result if r["value"] is not None else "–",
                     "controls": _controls_text(r["controls"]), "calibration": _band(cal) if r["tier"] == "smoke"
                     else "–", "verdict": str(r["status"]) + ("" if learned else " (not learned)"),
                     "paper_value": _fmt(r["paper_value"]) if r["kind"] == "paper" else "–"})
    return pd.DataFrame(rows, columns=["paper", "finding", "claim_id", "tier", "result", "controls", "calibration",
                                       "verdict", "paper_value"])


def _plots(df: pd.DataFrame, out: Path, cals: dict) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    # status overview: claims per paper, stacked by status
    counts = df.groupby(["paper", "status"], observed=False).size().unstack(fill_value=0)
    if not counts.empty:
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(counts)))
        left = None
        for st in STATUS_ORDER:
            if st in counts and counts[st].sum():
                ax.barh(counts.index, counts[st], left=left, color=STATUS_COLORS[st], label=st)
                left = counts[st] if left is None else left + counts[st]
        ax.set_xlabel("claims"), ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)), ax.set_title("status by paper")
        fig.savefig(out / "status_overview.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        made.append("status_overview.png")
    # smoke claims, one figure per paper: this run's method and controls, with the calibration's seed range
    measured = df[pd.to_numeric(df["value"], errors="coerce").notna()]
    for paper, g in measured.groupby("paper"):
        g = g[g["controls"].map(bool) | g["kind"].eq("relative")]
        if g.empty:
            continue
        fig, axes = _small_multiples(len(g), 3.2, 2.6)
        for ax, (_, r) in zip(axes, g.iterrows()):
            cal = cals.get(paper, {}).get(r["claim_id"])
            names, vals, bands = ["method"], [float(r["value"])], [cal.value if cal else None]
            if r["kind"] == "relative" and not _nan(r["than"]):
                names.append("compared"), vals.append(float(r["than"])), bands.append(cal.than if cal else None)
            for k, v in r["controls"].items():
                names.append(k), vals.append(float(v)), bands.append(cal.controls.get(k) if cal else None)
            colors = [STATUS_COLORS.get(str(r["status"]), "#333")] + ["#90a4ae"] * (len(names) - 1)
            ax.bar(range(len(names)), vals, color=colors)
            for i, b in enumerate(bands):
                if b:
                    ax.errorbar(i, (min(b) + max(b)) / 2, yerr=(max(b) - min(b)) / 2, color="k", capsize=3, lw=1)
            if r["kind"] == "proxy" and not _nan(r["target"]):
                ax.axhline(float(r["target"]), color="#c62828", ls="--", lw=1)
            ax.set_xticks(range(len(names)), [n[:12] for n in names], fontsize=6, rotation=30)
            ax.set_title(r["claim_id"][:34], fontsize=7)
            ax.tick_params(axis="y", labelsize=6)
        made.append(_save_grid(fig, f"{paper}: method vs controls (this run; bars: calibration seed range; "
                                    "dashed: floor)", out / f"controls_{paper}.png"))
    # paper vs reproduced: full-tier claims only (the same dataset and protocol)
    full = measured[measured["kind"].eq("paper") & pd.to_numeric(measured["paper_value"], errors="coerce").notna()]
    if not full.empty:
        fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(full) + 2), 3))
        x = range(len(full))
        ax.bar([i - 0.2 for i in x], pd.to_numeric(full["paper_value"]).values, 0.4, label="paper", color="#90a4ae")
        ax.bar([i + 0.2 for i in x], pd.to_numeric(full["value"]).values, 0.4, label="reproduced",
               color=[STATUS_COLORS.get(str(s), "#333") for s in full["status"]])
        ax.set_xticks(list(x), [f"{p}\n{c[:22]}" for p, c in zip(full["paper"], full["claim_id"])], fontsize=6)
        ax.set_title("full tier: paper vs reproduced"), ax.legend(fontsize=7)
        fig.savefig(out / "full_tier_paper_vs_reproduced.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        made.append("full_tier_paper_vs_reproduced.png")
    return made


def _nightly(run_dir: Path) -> dict | None:
    p = run_dir / "nightly.json"
    return json.loads(p.read_text()) if p.exists() else None


def _trend_plots(nightly: dict, history: str | None, out: Path) -> list[str]:
    """Per paper: each claim's value over the previous nights and tonight, with the band, the target,
    and the paper's number where it is comparable. Regressed claims first."""
    import matplotlib
    matplotlib.use("Agg")
    made = []
    claims = [c for c in nightly["claims"] if c["previous"] or c["value"] is not None]
    by_paper: dict = {}
    for c in claims:
        by_paper.setdefault(c["paper"], []).append(c)
    for paper, cs in sorted(by_paper.items()):
        cs = sorted(cs, key=lambda c: (c["verdict"] != "regression", c["claim_id"]))[:16]
        fig, axes = _small_multiples(len(cs), 3.2, 2.4)
        for ax, c in zip(axes, cs):
            ys = list(c["previous"]) + ([c["value"]] if c["value"] is not None else [])
            ax.plot(range(len(ys)), ys, "o-", ms=3, color="#455a64")
            if c["value"] is not None:
                ax.plot([len(ys) - 1], [c["value"]], "o", ms=6,
                        color={"regression": "#c62828", "improvement": "#2e7d32"}.get(c["verdict"], "#1565c0"))
            if c["lo"] is not None:
                ax.axhspan(c["lo"], c["hi"], color="#90a4ae", alpha=0.3, lw=0)
            if c["target"] is not None and c["kind"] != "relative":
                ax.axhline(c["target"], color="#c62828", ls="--", lw=1)
            if c["paper_value"] is not None and c["kind"] in COMPARABLE_KINDS:
                ax.axhline(c["paper_value"], color="#6a1b9a", ls=":", lw=1)
            ax.set_title(("REGRESSION " if c["verdict"] == "regression" else "") + c["claim_id"][:30], fontsize=7,
                         color="#c62828" if c["verdict"] == "regression" else "k")
            ax.tick_params(labelsize=6)
        made.append(_save_grid(fig, f"{paper}: last nights (band grey, target dashed, paper dotted where "
                                    "comparable)", out / f"trend_{paper}.png"))
    return made


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, baseline: str | None = None,
                 results_root: str | Path | None = None, history: str | None = None) -> Path:
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    df, meta = load_frame(run_dir)
    if baseline:
        df = flag_regressions(df, _resolve_baseline(baseline, Path(results_root) if results_root else run_dir.parent))
    nightly = _nightly(run_dir)
    csv = df.copy()
    csv["controls"] = csv["controls"].map(lambda c: json.dumps(c, sort_keys=True) if c else "")
    _atomic_write(out / "results.csv", csv.to_csv(index=False))
    (out / "summary.txt").write_text(summary_table(df))
    cals = _calibrations(meta)
    plots = _plots(df, out, cals)
    trends = _trend_plots(nightly, history, out) if nightly else []
    table = findings_table(df, cals)
    figures = sorted((run_dir / "figures").rglob("*.png")) if (run_dir / "figures").exists() else []
    fig_rel = []
    for f in figures:
        dst = out / "figures" / f.relative_to(run_dir / "figures")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(f.read_bytes())
        fig_rel.append(str(dst.relative_to(out)))
    for name in ("benchmark.json",):
        if (run_dir / name).exists():
            (out / name).write_bytes((run_dir / name).read_bytes())
    _atomic_write(out / "report.md", _markdown(df, meta, plots, fig_rel, table, nightly, trends))
    _atomic_write(out / "report.html", _html(df, meta, plots, fig_rel, table, nightly, trends, out))
    if nightly:
        _atomic_write(out / "nightly.md", "\n".join(_regressions_md(nightly, trends)) + "\n")
    return out


def publish(out: Path, dst: Path):
    """Replace `dst` (e.g. reports/out/latest) by a copy of the report folder `out`, atomically."""
    tmp = dst.with_name(dst.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(out, tmp)
    old = dst.with_name(dst.name + ".old")
    if dst.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old.exists():
        shutil.rmtree(old)


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _learned(r) -> bool:
    v = r.get("learned")
    return bool(v) if v is not None and not _nan(v) else r.get("kind") in ("paper", "proxy", "relative")


def _header(meta: dict, df: pd.DataFrame) -> list[str]:
    counts = df["status"].value_counts()
    learned = df[[_learned(r) for _, r in df.iterrows()]] if len(df) else df
    facts = df.drop(learned.index)
    lc, fc = learned["status"].value_counts(), facts["status"].value_counts()
    bench = meta.get("benchmark")
    lines = [
        f"run `{meta.get('run_id', '?')}` · git `{meta.get('git_sha', '?')}` · tier **{meta.get('tier', '?')}** · "
        f"seed {meta.get('seed', '?')} · device {meta.get('device', '?')} · {meta.get('wall_s', '?')} s · "
        f"data root `{meta.get('data_root')}`" + (" · **negative control: untrained models**"
                                                  if meta.get("mode") == "untrained" else ""),
        "",
        "findings (learned claims): " + ", ".join(f"{k} **{int(lc[k])}**" for k in STATUS_ORDER if lc.get(k, 0)),
        "",
        "facts and checks (analytic, speed, metric and decoder sanity; not learned): "
        + ", ".join(f"{k} **{int(fc[k])}**" for k in STATUS_ORDER if fc.get(k, 0)),
        "",
        "all claims: " + ", ".join(f"{k} **{int(counts[k])}**" for k in STATUS_ORDER if counts.get(k, 0)),
    ]
    if bench:
        from harness.bench import describe
        lines += ["", describe(bench)]
    return lines


def _md_cell(v) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame, cols: list[str]) -> list[str]:
    out = ["| " + " | ".join(c.replace("_", " ") for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.iterrows():
        out.append("| " + " | ".join(_md_cell(r[c]) for c in cols) + " |")
    return out


def _negative_control(df: pd.DataFrame, meta: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """In an untrained run: (learned claims that still pass = defects, non-learned claims that fail)."""
    if meta.get("mode") != "untrained":
        return None
    measured = df[df["value"].notna()]
    defects = measured[measured["status"].astype(str) == STATUS_UNTRAINED_PASSES]
    broken = measured[measured["status"].astype(str).isin(["not reproduced", "reproduced (unexpectedly)"])]
    return defects, broken


FINDING_COLS = ["finding", "claim_id", "tier", "result", "controls", "calibration", "verdict", "paper_value"]
DETAIL_COLS = ["claim_id", "kind", "tier", "metric", "paper_value", "target", "value", "than", "controls", "unit",
               "status", "note"]
REGRESSION_COLS = ["verdict", "paper", "claim_id", "value", "band", "previous", "why"]


def _regression_frame(nightly: dict) -> pd.DataFrame:
    rows = []
    for c in nightly["claims"]:
        if c["verdict"] not in ("regression", "improvement"):
            continue
        band = "–" if c["lo"] is None else f"[{_fmt(c['lo'])}, {_fmt(c['hi'])}]"
        rows.append({"verdict": c["verdict"], "paper": c["paper"], "claim_id": c["claim_id"], "value": c["value"],
                     "band": band, "previous": ", ".join(_fmt(v) for v in c["previous"][-5:]) or "–",
                     "why": c["why"]})
    return pd.DataFrame(rows, columns=REGRESSION_COLS)


def _regressions_md(nightly: dict, trends: list[str]) -> list[str]:
    f = _regression_frame(nightly)
    out = ["## Regressions", "",
           f"Against the last {nightly['nights']} run(s) on this device class (history `{nightly['history']}`): "
           f"**{nightly['regressions']}** regression(s), {nightly['improvements']} improvement(s) to look at.", ""]
    if len(f):
        out += _md_table(f, REGRESSION_COLS) + [""]
    out += [f"![{Path(t).stem}]({t})" for t in trends] + [""]
    return out


def _markdown(df, meta, plots, figures, findings, nightly=None, trends=()) -> str:
    out = ["# Reproduction report", ""] + _header(meta, df) + [""]
    if meta.get("exitstatus") not in (None, 0):
        out += [f"> pytest exit status {meta['exitstatus']}: some tests failed or the run was partial.", ""]
    neg = _negative_control(df, meta)
    if neg is not None:
        defects, broken = neg
        n_fail = int((df["status"].astype(str) == STATUS_UNTRAINED_FAILS).sum())
        out += ["## Negative control", "",
                f"Every model was left at its seeded initialisation. {n_fail} learned claims fail, as they must; "
                f"**{len(defects)}** learned claims still pass (each a defect: its floor or controls cannot tell a "
                f"trained model from an untrained one); {len(broken)} non-learned claims fail.", ""]
        if len(defects):
            out += _md_table(defects, ["paper", "claim_id", "value", "target", "controls", "note"]) + [""]
        if len(broken):
            out += _md_table(broken, ["paper", "claim_id", "value", "target", "status"]) + [""]
    out += ["## Findings", "",
            "Per paper: each smoke finding beside its controls (measured in the same run by the same code) and "
            "the calibration band over seeds (`./repro calibrate`); full-tier claims beside the paper's number. "
            "A proxy result is never set against the paper's number: its dataset and protocol differ.", ""]
    for paper, f in findings.groupby("paper", sort=True):
        out += [f"### {paper}", ""] + _md_table(f, FINDING_COLS) + [""]
    if nightly:
        out += _regressions_md(nightly, trends)
    view = df.copy()
    view["controls"] = view["controls"].map(_controls_text)
    has_base = "baseline" in df
    cols = DETAIL_COLS[:7] + (["baseline"] if has_base else []) + DETAIL_COLS[7:]
    out += ["## All claims", ""]
    for paper, g in view.groupby("paper", sort=True):
        out += [f"### {paper}", ""]
        g = g.copy()
        if has_base:
            g["status"] = [f"{s} **REGRESSION**" if reg else str(s) for s, reg in zip(g["status"], g["regression"])]
        out += _md_table(g, cols)
        figs = [x for x in figures if x.startswith(f"figures/{paper}/")]
        out += [""] + [f"![{Path(x).stem}]({x})" for x in figs] + [""]
    out += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _img(out: Path | None, rel: str) -> str:
    """An <img> with the PNG embedded, so report.html is one self-contained file."""
    if out is not None and (out / rel).exists():
        data = base64.b64encode((out / rel).read_bytes()).decode()
        return f"<img alt='{html.escape(Path(rel).stem)}' src='data:image/png;base64,{data}'>"
    return f"<img src='{html.escape(rel)}'>"


def _html(df, meta, plots, figures, findings, nightly=None, trends=(), out: Path | None = None) -> str:
    def color(s):
        return f"color:{STATUS_COLORS.get(str(s), '#000')};font-weight:600"
    parts = ["<!doctype html><meta charset='utf-8'><title>Reproduction report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:560px;margin:4px}</style>",
             "<h1>Reproduction report</h1>"]
    parts += [f"<p>{html.escape(line).replace('**', '')}</p>" for line in _header(meta, df) if line]
    neg = _negative_control(df, meta)
    if neg is not None:
        defects, broken = neg
        parts += ["<h2>Negative control</h2>", f"<p>{len(defects)} learned claims pass with untrained models "
                  f"(defects); {len(broken)} non-learned claims fail.</p>"]
        if len(defects):
            parts.append(defects[["paper", "claim_id", "value", "target"]].to_html(index=False))
    parts += ["<h2>Findings</h2>", "<p>Each smoke finding beside its controls (same run, same code) and the "
              "calibration band over seeds; full-tier claims beside the paper's number.</p>"]
    for paper, f in findings.groupby("paper", sort=True):
        parts += [f"<h3>{html.escape(paper)}</h3>",
                  f[FINDING_COLS].style.map(color, subset=["verdict"]).hide(axis="index").to_html()]
    if nightly:
        f = _regression_frame(nightly)
        parts += ["<h2>Regressions</h2>", f"<p>Against the last {nightly['nights']} run(s) on this device class: "
                  f"{nightly['regressions']} regression(s), {nightly['improvements']} improvement(s).</p>"]
        if len(f):
            parts.append(f.to_html(index=False))
        parts += [_img(out, t) for t in trends]
    cols = [c for c in DETAIL_COLS[:7] + ["baseline"] + DETAIL_COLS[7:] + ["regression"] if c in df]
    parts.append("<h2>All claims</h2>")
    for paper, g in df.groupby("paper", sort=True):
        parts += [f"<h3>{html.escape(paper)}</h3>"]
        view = g[cols].copy()
        view["controls"] = view["controls"].map(_controls_text)
        for c in ("paper_value", "target", "value", "than", "baseline"):
            if c in view:
                view[c] = view[c].map(_fmt)
        view["status"] = view["status"].astype(str)
        parts.append(view.style.map(color, subset=["status"]).hide(axis="index").to_html())
        parts += [_img(out, x) for x in figures if x.startswith(f"figures/{paper}/")]
    parts += ["<h2>Plots</h2>"] + [_img(out, p) for p in plots]
    return "\n".join(parts)
