"""Results -> pandas -> report.md / report.html / results.csv / plots.

    python -m reports build reports/out/runs/<run-id> [--baseline <run dir|run id|results.csv>]

Rows come from the run's JSON lines; every claim of the run's papers that recorded nothing is
listed as "not run", so nothing is silently dropped. With a baseline, a row whose value moved
the wrong way by more than the claim's tolerance is flagged as a regression.
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import pandas as pd

from harness.claims import load_all
from harness.results import STATUS_NOT_CHECKED, STATUS_NOT_RUN, read_results

COLUMNS = ["paper", "claim_id", "kind", "tier", "metric", "unit", "paper_value", "target", "value",
           "status", "direction", "tolerance", "dataset", "split", "seed", "device", "wall_s", "note"]
STATUS_ORDER = ["reproduced", "not reproduced", "not reproduced (known)", "reproduced (unexpectedly)",
                "recorded", "not run", "not checked"]
STATUS_COLORS = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "not reproduced (known)": "#ef6c00",
                 "reproduced (unexpectedly)": "#6a1b9a", "recorded": "#1565c0", "not run": "#9e9e9e",
                 "not checked": "#616161"}


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
                                "split": c.split, "note": note})
    if missing:
        df = pd.concat([df, pd.DataFrame(missing)], ignore_index=True)
    for col in COLUMNS:
        if col not in df:
            df[col] = None
    df["status"] = pd.Categorical(df["status"], STATUS_ORDER, ordered=True)
    df = df.sort_values(["paper", "status", "claim_id"], kind="stable").reset_index(drop=True)
    return df, meta


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
    counts = df["status"].value_counts()
    lines.append("  ".join(f"{k}: {int(counts[k])}" for k in STATUS_ORDER if counts.get(k, 0)))
    return "\n".join(lines) + "\n"


def _plots(df: pd.DataFrame, out: Path) -> list[str]:
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
    # paper vs reproduced, per metric, for claims with a numeric paper value and a measurement
    num = df[pd.to_numeric(df["paper_value"], errors="coerce").notna() & pd.to_numeric(df["value"], errors="coerce").notna()]
    for metric, g in num.groupby("metric"):
        fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(g) + 2), 3))
        x = range(len(g))
        pv, mv = pd.to_numeric(g["paper_value"]).values, pd.to_numeric(g["value"]).values
        ax.bar([i - 0.2 for i in x], pv, 0.4, label="paper", color="#90a4ae")
        ax.bar([i + 0.2 for i in x], mv, 0.4, label="reproduced",
               color=[STATUS_COLORS.get(str(s), "#333") for s in g["status"]])
        ax.set_xticks(list(x), [f"{p}\n{c[:22]}" for p, c in zip(g["paper"], g["claim_id"])], fontsize=6)
        ax.set_title(f"{metric}: paper vs reproduced"), ax.legend(fontsize=7)
        if (pv > 0).all() and (mv > 0).all() and max(pv.max(), mv.max()) / max(1e-12, min(pv.min(), mv.min())) > 1e3:
            ax.set_yscale("log")
        name = f"metric_{''.join(ch if ch.isalnum() else '_' for ch in metric)}.png"
        fig.savefig(out / name, dpi=90, bbox_inches="tight")
        plt.close(fig)
        made.append(name)
    return made


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, baseline: str | None = None,
                 results_root: str | Path | None = None) -> Path:
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    df, meta = load_frame(run_dir)
    if baseline:
        df = flag_regressions(df, _resolve_baseline(baseline, Path(results_root) if results_root else run_dir.parent))
    _atomic_write(out / "results.csv", df.to_csv(index=False))
    (out / "summary.txt").write_text(summary_table(df))
    plots = _plots(df, out)
    figures = sorted((run_dir / "figures").rglob("*.png")) if (run_dir / "figures").exists() else []
    fig_rel = []
    for f in figures:
        dst = out / "figures" / f.relative_to(run_dir / "figures")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(f.read_bytes())
        fig_rel.append(str(dst.relative_to(out)))
    _atomic_write(out / "report.md", _markdown(df, meta, plots, fig_rel))
    _atomic_write(out / "report.html", _html(df, meta, plots, fig_rel))
    return out


def _atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _header(meta: dict, df: pd.DataFrame) -> list[str]:
    counts = df["status"].value_counts()
    return [
        f"run `{meta.get('run_id', '?')}` · git `{meta.get('git_sha', '?')}` · tier **{meta.get('tier', '?')}** · "
        f"seed {meta.get('seed', '?')} · device {meta.get('device', '?')} · {meta.get('wall_s', '?')} s · "
        f"data root `{meta.get('data_root')}`",
        "",
        "status: " + ", ".join(f"{k} **{int(counts[k])}**" for k in STATUS_ORDER if counts.get(k, 0)),
    ]


def _md_cell(v) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def _markdown(df, meta, plots, figures) -> str:
    out = ["# Reproduction report", ""] + _header(meta, df) + [""]
    if meta.get("exitstatus") not in (None, 0):
        out += [f"> pytest exit status {meta['exitstatus']}: some tests failed or the run was partial.", ""]
    cols = ["claim_id", "kind", "tier", "metric", "paper_value", "target", "value", "unit", "status", "note"]
    has_base = "baseline" in df
    if has_base:
        cols.insert(7, "baseline")
    for paper, g in df.groupby("paper", sort=True):
        out += [f"## {paper}", "", "| " + " | ".join(c.replace("_", " ") for c in cols) + " |",
                "|" + "---|" * len(cols)]
        for _, r in g.iterrows():
            cells = [_md_cell(r[c]) for c in cols]
            if has_base and r.get("regression"):
                cells[cols.index("status")] += " **REGRESSION**"
            out.append("| " + " | ".join(cells) + " |")
        figs = [f for f in figures if f.startswith(f"figures/{paper}/")]
        out += [""] + [f"![{Path(f).stem}]({f})" for f in figs] + [""]
    out += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return "\n".join(out)


def _html(df, meta, plots, figures) -> str:
    def color(s):
        return f"color:{STATUS_COLORS.get(str(s), '#000')};font-weight:600"
    parts = ["<!doctype html><meta charset='utf-8'><title>Reproduction report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:560px;margin:4px}</style>",
             "<h1>Reproduction report</h1>"]
    parts += [f"<p>{html.escape(line).replace('**', '')}</p>" for line in _header(meta, df) if line]
    cols = [c for c in ["claim_id", "kind", "tier", "metric", "paper_value", "target", "value", "baseline",
                        "unit", "status", "regression", "note"] if c in df]
    for paper, g in df.groupby("paper", sort=True):
        view = g[cols].copy()
        for c in ("paper_value", "target", "value", "baseline"):
            if c in view:
                view[c] = view[c].map(_fmt)
        view["status"] = view["status"].astype(str)
        styler = view.style.map(color, subset=["status"]).hide(axis="index")
        parts += [f"<h2>{html.escape(paper)}</h2>", styler.to_html()]
        parts += [f"<img src='{html.escape(f)}'>" for f in figures if f.startswith(f"figures/{paper}/")]
    parts += ["<h2>Plots</h2>"] + [f"<img src='{html.escape(p)}'>" for p in plots]
    return "\n".join(parts)
