"""Two sides of a comparison -> the cells both have, paired by seed; what only one side has; and
the configuration keys that differ per cell.

Cells only one side has are a note (`PairedCells.only`), an error with `require_all` (the strict
CI behaviour). Cells that both have but that cannot be compared (no common seeds, different test
sets) are always an error: comparing them would be meaningless, and leaving them out silently would
hide a broken baseline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.errors import HarnessError
from harness.records.baselines import Side
from harness.records.grouping import SeedRuns, SeedRun, test_set_problem
from harness.spec.common import suggest

# keys that differ by design between the seeds of a cell, or are output options (plots, save_model)
_IGNORED = ("seed",)
_IGNORED_PREFIXES = ("options.",)


@dataclass
class PairedCells:
    plans: list[tuple[SeedRuns, SeedRuns, list[int]]]  # (candidate cell, baseline cell, common seeds)
    notes: list[str] = field(default_factory=list)
    only: dict[str, list[str]] = field(default_factory=dict)  # side -> "task / model" it alone has
    config_changes: dict[tuple[str, str], dict[str, list[Any]]] = field(default_factory=dict)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"recipe": {"learning_rate": 2e-5}} -> {"recipe.learning_rate": 2e-5}."""
    if not isinstance(config, dict):
        return {prefix.rstrip("."): config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def config_changes(cand: list[SeedRun], base: list[SeedRun]) -> dict[str, list[Any]]:
    """The configuration keys whose value differs between the sides: {key: [baseline, candidate]}
    (values of the first paired seed; keys that vary by seed are left out)."""
    if not cand or not base or not cand[0].config or not base[0].config:
        return {}
    old, new = flatten(base[0].config), flatten(cand[0].config)
    changes = {}
    for key in sorted(set(old) | set(new)):
        if key.rsplit(".", 1)[-1] in _IGNORED or key.startswith(_IGNORED_PREFIXES):
            continue
        if old.get(key) != new.get(key):
            changes[key] = [old.get(key), new.get(key)]
    return changes


def _matches(name: str, wanted: set[str]) -> bool:
    """A model filter names a model or, for variants (model@NAME), its base model as well."""
    return name in wanted or name.split("@", 1)[0] in wanted


def filter_sides(sides: Iterable[Side], tasks: list[str] | None, models: list[str] | None) -> None:
    """Keep the cells of the named tasks and models (in place); an error for a name neither side has."""
    sides = list(sides)
    for what, wanted, index in (("task", tasks, 0), ("model", models, 1)):
        if not wanted:
            continue
        known = {key[index] for side in sides for key in side.cells}
        known_bases = known | {k.split("@", 1)[0] for k in known}
        for name in wanted:
            if name not in known_bases:
                raise HarnessError(f"--{what}s: no {what} '{name}' on either side{suggest(name, sorted(known))}; "
                                   f"the sides have {', '.join(sorted(known))}")
        for side in sides:
            side.cells = {key: cell for key, cell in side.cells.items()
                          if (key[index] in wanted if index == 0 else _matches(key[index], set(wanted)))}
            side.failed = [f for f in side.failed
                           if (f[index] in wanted if index == 0 else _matches(f[index], set(wanted)))]


def _unusable(problems: list[tuple[str, str]]) -> HarnessError:
    kinds = {"missing": "cell(s) missing on one side", "seeds": "cell(s) with no common seeds",
             "test set": "cell(s) not scored on the same test set"}
    counts: dict[str, int] = {}
    for kind, _ in problems:
        counts[kind] = counts.get(kind, 0) + 1
    summary = "; ".join(f"{n} {kinds.get(k, k)}" for k, n in counts.items())
    first = problems[0][1]
    head = f"cannot compare candidate and baseline: {summary} (first: {first})"
    return HarnessError("\n".join([head] + [f"  - {message}" for _, message in problems]))


def _environment_notes(pairs: list[tuple[SeedRun, SeedRun]]) -> list[str]:
    notes = []
    for key in ("harness", "torch", "transformers", "device", "precision"):
        cand = sorted({str(c.provenance.get(key)) for c, _ in pairs if c.provenance.get(key) is not None})
        base = sorted({str(b.provenance.get(key)) for _, b in pairs if b.provenance.get(key) is not None})
        if cand and base and cand != base:
            notes.append(f"{key} differs: {', '.join(cand)} (candidate) vs {', '.join(base)} (baseline)")
    return notes


def _shown(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def pair_cells(cand_side: Side, base_side: Side, require_all: bool = False) -> PairedCells:
    """Match the two sides' cells and seeds. Raises HarnessError listing every cell that cannot be
    compared (and, with `require_all`, every cell only one side has)."""
    problems: list[tuple[str, str]] = []
    out = PairedCells(plans=[], only={"candidate": [], "baseline": []})
    same_config: list[str] = []
    failed_by_cell = {
        name: {(t, m) for t, m, _ in side.failed} for name, side in (("candidate", cand_side), ("baseline", base_side))
    }
    for key in sorted(set(cand_side.cells) | set(base_side.cells)):
        cell_name = f"{key[0]} / {key[1]}"
        for name, side in (("candidate", cand_side), ("baseline", base_side)):
            if key not in side.cells:
                other = "baseline" if name == "candidate" else "candidate"
                out.only[other].append(cell_name)
                if require_all:
                    why = " (only failed records)" if key in failed_by_cell[name] else ""
                    problems.append(("missing", f"{cell_name}: missing from the {name} {side.source}{why}; "
                                                f"the {other} has it"))
        if key not in cand_side.cells or key not in base_side.cells:
            continue
        cand, base = cand_side.cells[key], base_side.cells[key]
        common = sorted(set(cand.seeds) & set(base.seeds))
        if not common:
            problems.append(("seeds", f"{cell_name}: no common seeds (candidate {sorted(cand.seeds)}, "
                                      f"baseline {sorted(base.seeds)})"))
            continue
        cand_runs, base_runs = [cand.seeds[s] for s in common], [base.seeds[s] for s in common]
        problem = test_set_problem(cell_name, cand_runs, base_runs)
        if problem:
            problems.append(("test set", problem))
            continue
        trained_on = {side: sorted({r.data_fingerprint or "?" for r in runs})
                      for side, runs in (("candidate", cand_runs), ("baseline", base_runs))}
        if trained_on["candidate"] != trained_on["baseline"]:
            out.notes.append(f"{cell_name}: same test set, but the training or validation data differ (data "
                             f"fingerprint {', '.join(trained_on['candidate'])} (candidate) vs "
                             f"{', '.join(trained_on['baseline'])} (baseline))")
        unpaired = sorted(set(cand.seeds) ^ set(base.seeds))
        if unpaired:
            out.notes.append(f"{cell_name}: seed(s) {', '.join(map(str, unpaired))} have no partner and are ignored")
        if all(c.config_hash == b.config_hash for c, b in zip(cand_runs, base_runs)):
            same_config.append(cell_name)
        changes = config_changes(cand_runs, base_runs)
        if changes:
            out.config_changes[key] = changes
        out.plans.append((cand, base, common))
    if problems:
        raise _unusable(problems)
    if not out.plans:
        raise HarnessError("no cell to compare: the candidate and the baseline have no task x model in common "
                           f"(candidate: {_shown(out.only['candidate'])}; baseline: {_shown(out.only['baseline'])})")
    for side, names in out.only.items():
        if names:
            out.notes.append(f"only the {side} has {len(names)} cell(s), not compared: {_shown(names)} "
                             f"(--require-all makes this an error)")
    if same_config:
        out.notes.append(f"same config hash on both sides for every paired seed of {len(same_config)} cell(s): "
                         f"{_shown(same_config)} (those compare a configuration with itself)")
    for name, side in (("candidate", cand_side), ("baseline", base_side)):
        if side.failed:
            shown = _shown([f"{t} / {m} / seed {s}" for t, m, s in side.failed])
            out.notes.append(f"the {name} has {len(side.failed)} failed record(s), not compared: {shown}")
    from harness.records.chance import at_chance

    for cand, base, common in out.plans:
        for name, cell in (("candidate", cand), ("baseline", base)):
            reason = at_chance([cell.seeds[s] for s in common])
            if reason:
                out.notes.append(f"{cell.name}: the {name} is at chance level (⚠): {reason}")
    all_pairs = [(c.seeds[s], b.seeds[s]) for c, b, common in out.plans for s in common]
    out.notes.extend(_environment_notes(all_pairs))
    return out
