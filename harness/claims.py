"""Claims registry: `suites/<paper>/claims.toml`, validated on load.

A claim is one number (or ordering) a paper reports, with what it takes to check it:

    [[claim]]
    id = "vgg16_params"          # unique in the file
    kind = "exact"               # paper | relative | proxy | exact | speed
    tier = "smoke"               # smoke | full
    metric = "parameters"
    value = 138357544            # the target (required except for relative claims)
    direction = "equal"          # higher | lower | equal
    tolerance = 0                # absolute slack around the target (relative: required margin)
    controls = ["untrained", "position_prior"]   # what a learned smoke claim must also beat
    margin = 0.5                 # required margin over every control (default 0: strictly better)
    learned = true               # depends on training (default: paper/proxy/relative true, else false)
    finding = "..."              # the paper's finding in words, for the report's findings table
    ...

Any problem raises `ClaimsError` whose message names the file, the claim id and the field.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = ("paper", "relative", "proxy", "exact", "speed")
TIERS = ("smoke", "full")
DIRECTIONS = ("higher", "lower", "equal")
LEVELS = ("seed", "V1", "V2", "M", "")

_FIELDS = {
    # name: (type(s), required)
    "id": (str, True),
    "kind": (str, True),
    "tier": (str, True),
    "metric": (str, True),
    "direction": (str, True),
    "source": (str, True),
    "value": ((int, float), False),
    "unit": (str, False),
    "tolerance": ((int, float), False),
    "dataset": (str, False),
    "split": (str, False),
    "quote": (str, False),
    "note": (str, False),
    "level": (str, False),
    "paper_value": ((int, float, str), False),
    "asserted": (bool, False),
    "known_failure": (str, False),
    "not_checked": (str, False),
    "controls": (list, False),
    "margin": ((int, float), False),
    "learned": (bool, False),
    "finding": (str, False),
}
_PAPER_FIELDS = {"id", "title", "source", "note", "smoke_seconds"}
LEARNED_BY_DEFAULT = ("paper", "proxy", "relative")


class ClaimsError(ValueError):
    """A claims file is malformed, or a claim id is unknown."""


@dataclass(frozen=True)
class Claim:
    paper: str
    id: str
    kind: str
    tier: str
    metric: str
    direction: str
    source: str
    value: float | None = None
    unit: str = ""
    tolerance: float = 0.0
    dataset: str = ""
    split: str = ""
    quote: str = ""
    note: str = ""
    level: str = ""
    paper_value: float | str | None = None
    asserted: bool = True          # false: recorded but not asserted (an unverified number)
    known_failure: str = ""        # non-empty: does not reproduce here, and this says why
    not_checked: str = ""          # non-empty: a published number no test measures, and why not
    controls: tuple = ()           # named controls the measured value must also beat, by `margin`
    margin: float = 0.0            # required margin over every control (strictly better at 0)
    learned: bool | None = None    # depends on training; None -> by kind (LEARNED_BY_DEFAULT)
    finding: str = ""              # the paper's finding in words (report)

    @property
    def is_learned(self) -> bool:
        """Whether the claim depends on training: in the untrained run it must fail."""
        return self.kind in LEARNED_BY_DEFAULT if self.learned is None else self.learned

    def beats(self, measured: float, other: float, margin: float) -> bool:
        """`measured` is better than `other` by more than `margin`, in the claim's direction."""
        if measured is None or other is None or math.isnan(measured) or math.isnan(other):
            return False
        return measured > other + margin if self.direction == "higher" else measured < other - margin

    def controls_not_beaten(self, measured: float, controls: dict) -> list[str]:
        """The declared controls that `measured` does not beat by `margin` (all must be given)."""
        return [name for name in self.controls if not self.beats(measured, float(controls[name]), self.margin)]

    @property
    def shown_paper_value(self):
        """The number the paper published, for the report (the target of proxy claims is ours)."""
        if self.paper_value is not None:
            return self.paper_value
        if self.kind in ("paper", "exact", "speed"):
            return self.value
        return None

    def check(self, measured: float, than: float | None = None) -> tuple[bool, float | None]:
        """Whether `measured` meets the claim; returns (ok, target). Relative claims compare
        against `than` (the other arm of the comparison), with `tolerance` as required margin."""
        if measured is None or (isinstance(measured, float) and math.isnan(measured)):
            return False, self.value
        if self.kind == "relative":
            if than is None:
                raise ClaimsError(f"claim '{self.id}' is relative: record it with than=<other value>")
            target = than
        else:
            if than is not None:
                raise ClaimsError(f"claim '{self.id}' is {self.kind}, not relative: it takes no than=")
            target = self.value
        tol = self.tolerance
        if self.direction == "higher":
            ok = measured > target + tol if self.kind == "relative" else measured >= target - tol
        elif self.direction == "lower":
            ok = measured < target - tol if self.kind == "relative" else measured <= target + tol
        else:
            ok = abs(measured - target) <= tol
        return bool(ok), target


@dataclass
class PaperClaims:
    paper: str
    title: str
    source: str
    path: Path
    smoke_seconds: float = 0.0     # measured cold smoke time on one thread: heavy suites are scheduled first
    claims: dict[str, Claim] = field(default_factory=dict)

    def __getitem__(self, claim_id: str) -> Claim:
        try:
            return self.claims[claim_id]
        except KeyError:
            known = ", ".join(sorted(self.claims)) or "none"
            raise ClaimsError(f"{self.path}: no claim '{claim_id}' (known: {known})") from None

    def __iter__(self):
        return iter(self.claims.values())

    def __len__(self):
        return len(self.claims)


def _type_name(t) -> str:
    return " or ".join(x.__name__ for x in t) if isinstance(t, tuple) else t.__name__


def load_claims(path: str | Path) -> PaperClaims:
    """Load and validate one claims.toml."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClaimsError(f"{path}: no such claims file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ClaimsError(f"{path}: not valid TOML ({e})") from None

    paper = data.get("paper")
    if not isinstance(paper, dict) or not isinstance(paper.get("id"), str):
        raise ClaimsError(f"{path}: missing [paper] table with a string 'id'")
    unknown_top = set(data) - {"paper", "claim"}
    if unknown_top:
        raise ClaimsError(f"{path}: unknown top-level key(s) {sorted(unknown_top)}")
    unknown_paper = set(paper) - _PAPER_FIELDS
    if unknown_paper:
        raise ClaimsError(f"{path}: unknown key(s) {sorted(unknown_paper)} in [paper] (allowed: {sorted(_PAPER_FIELDS)})")
    cost = paper.get("smoke_seconds", 0)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        raise ClaimsError(f"{path}: [paper] smoke_seconds must be a number >= 0, got {cost!r}")
    out = PaperClaims(paper=paper["id"], title=str(paper.get("title", "")),
                      source=str(paper.get("source", "")), path=path, smoke_seconds=float(cost))
    raw_claims = data.get("claim", [])
    if not isinstance(raw_claims, list):
        raise ClaimsError(f"{path}: 'claim' must be an array of tables ([[claim]])")
    for i, raw in enumerate(raw_claims):
        if not isinstance(raw, dict):
            raise ClaimsError(f"{path}: claim #{i + 1} is a {type(raw).__name__}, expected a table ([[claim]])")
        cid = raw.get("id") if isinstance(raw.get("id"), str) else f"#{i + 1}"
        where = f"{path}: claim '{cid}'"
        for name in raw:
            if name not in _FIELDS:
                raise ClaimsError(f"{where}: unknown field '{name}' (allowed: {', '.join(_FIELDS)})")
        for name, (typ, required) in _FIELDS.items():
            if name not in raw:
                if required:
                    raise ClaimsError(f"{where}: missing required field '{name}'")
                continue
            v = raw[name]
            if isinstance(v, bool) and typ is not bool:
                raise ClaimsError(f"{where}: field '{name}' must be {_type_name(typ)}, got bool")
            if not isinstance(v, typ):
                raise ClaimsError(f"{where}: field '{name}' must be {_type_name(typ)}, got {type(v).__name__}")
        for name, allowed in (("kind", KINDS), ("tier", TIERS), ("direction", DIRECTIONS)):
            if raw[name] not in allowed:
                raise ClaimsError(f"{where}: field '{name}' is '{raw[name]}', expected one of {allowed}")
        if raw.get("level", "") not in LEVELS:
            raise ClaimsError(f"{where}: field 'level' is '{raw['level']}', expected one of {LEVELS[:-1]}")
        if raw["kind"] != "relative" and "value" not in raw:
            raise ClaimsError(f"{where}: field 'value' is required for kind '{raw['kind']}'")
        if raw["kind"] == "relative" and raw["direction"] == "equal":
            raise ClaimsError(f"{where}: field 'direction' must be higher or lower for a relative claim")
        for name in ("value", "tolerance", "margin"):
            if name in raw and not math.isfinite(raw[name]):
                raise ClaimsError(f"{where}: field '{name}' must be a finite number, got {raw[name]}")
        for name in ("tolerance", "margin"):
            if raw.get(name, 0) < 0:
                raise ClaimsError(f"{where}: field '{name}' must be >= 0")
        controls = raw.get("controls", [])
        if any(not isinstance(c, str) or not c for c in controls) or len(set(controls)) != len(controls):
            raise ClaimsError(f"{where}: field 'controls' must be a list of distinct non-empty names")
        if controls and raw["direction"] == "equal":
            raise ClaimsError(f"{where}: field 'controls' needs direction higher or lower (a control is beaten)")
        if raw["kind"] == "proxy" and not raw.get("note"):
            raise ClaimsError(f"{where}: field 'note' is required for proxy claims (how the floor was calibrated)")
        if raw["kind"] == "paper" and raw["tier"] != "full":
            raise ClaimsError(f"{where}: field 'tier' must be 'full' for paper claims")
        if cid in out.claims:
            raise ClaimsError(f"{where}: duplicate claim id")
        kwargs = {k: v for k, v in raw.items()}
        if "value" in kwargs:
            kwargs["value"] = float(kwargs["value"])
        kwargs["tolerance"] = float(kwargs.get("tolerance", 0.0))
        kwargs["margin"] = float(kwargs.get("margin", 0.0))
        kwargs["controls"] = tuple(controls)
        out.claims[cid] = Claim(paper=out.paper, **kwargs)
    return out


def load_all(suites_dir: str | Path) -> dict[str, PaperClaims]:
    """Every suites/<paper>/claims.toml, keyed by paper id."""
    out = {}
    for p in sorted(Path(suites_dir).glob("*/claims.toml")):
        pc = load_claims(p)
        out[pc.paper] = pc
    return out
