"""Records of the scribble benchmark and the report built from them.

One finished run (dataset, trainer, budget, seed) is one JSON record: `attenscribble evaluate`'s summary plus what
made it (iterations, plan, version, commit, machine, date). The report groups the records of a results folder by
dataset, trainer and budget: a markdown table trainer x budget (mean +/- sd over seeds, HD95, % of the dense model's
Dice at the same budget) and a plot of mean Dice and HD95 against iterations, one line per trainer.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from nnunet_attenscribble.scribble_tools.strict_json import dumps_strict

DENSE = "dense"
# two-stage-t<threshold>-<stage-2 trainer>: the default at 1x, its pseudo-labels, then <trainer> for the remaining budget
TWO_STAGE = re.compile(r"^two-stage-t(?P<threshold>[01](?:\.\d+)?)-(?P<stage2>\w+)$")
LABELS = {"nnUNetTrainer_AttenScribbleBudget": "nnU-Net ignore-label baseline (Dice+CE on scribbles)",
          "AttenScribbleTrainer_PartialCE": "partial CE only (no masked Dice)",
          "AttenScribbleTrainer_PartialCE_CRF": "partial CE + masked CRF",
          "AttenScribbleTrainer_NoPartialDice": "+ attention block (v0.3's default)",
          "AttenScribbleTrainer_PartialCEDice": "partial CE + masked Dice",
          "AttenScribbleTrainer_PartialCEDice_CRF": "+ masked CRF",
          "AttenScribbleTrainer": "+ attention block (AttenScribbleTrainer, default)",
          "AttenScribbleTrainer_PaperObjective": "attention + CRF + similarity loss (the paper's full objective)",
          "AttenScribbleTrainer_PlusSimilarity": "+ attentive similarity loss (default + similarity)",
          DENSE: "nnU-Net on dense labels",
          "AttenScribbleTrainer_CRFWeight03": "default, CRF weight 0.3",
          "AttenScribbleTrainer_CRFSigmaIntensity005": "default, CRF intensity sigma 0.05"}


def label(trainer: str) -> str:
    """Table / plot label of a --trainers name."""
    two_stage = TWO_STAGE.match(trainer)
    if two_stage:
        stage2 = two_stage["stage2"]
        return (f"two-stage: default 1x, pseudo-labels p >= {two_stage['threshold']}, then "
                f"{'nnU-Net baseline' if stage2 == 'nnUNetTrainer_AttenScribbleBudget' else stage2}")
    return LABELS.get(trainer, trainer)


def budget_label(budget) -> str:
    """A budget as records, run folders and tables name it: an int is a multiple of the profile's iterations ('9x'),
    a string an equal-time budget, already a label ('5min')."""
    return f"{budget}x" if isinstance(budget, int) else budget


def _budget_order(budget) -> tuple:
    """Multiples first, rising; then equal-time budgets, rising."""
    return (0, budget) if isinstance(budget, int) else (1, float(budget.removesuffix("min")))


def record_path(results_dir: Path, kind: str, trainer: str, budget, seed: int) -> Path:
    return Path(results_dir) / kind / f"{trainer}__{budget_label(budget)}__seed{seed}.json"


def write_record(path: Path, record: dict) -> None:
    """Atomically (a killed run leaves no half-written record that would count as finished), undefined numbers as
    null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(dumps_strict(record))
    partial.replace(path)


def load_records(results_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(Path(results_dir).glob("*/*.json"))]


def _stat(values) -> tuple[float, float]:
    """(mean, population sd) of the finite values; (nan, nan) if none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def grouped(records: list[dict]) -> dict:
    """{dataset: {trainer: {budget: [records sorted by seed]}}}, trainers and budgets in first-seen / rising order."""
    groups: dict = {}
    for record in sorted(records, key=lambda r: (_budget_order(r["budget"]), r["seed"])):
        trainers = groups.setdefault(record["dataset"], {})
        trainers.setdefault(record["trainer"], {}).setdefault(record["budget"], []).append(record)
    return groups


def _cell(values, digits: int) -> str:
    mean, sd = _stat(values)
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if len(values) > 1 else "")


def format_report(records: list[dict]) -> str:
    """One markdown table per dataset: a row per trainer and budget."""
    lines = []
    for kind, trainers in grouped(records).items():
        first = next(iter(next(iter(trainers.values())).values()))[0]
        classes = list(first["per_class"])
        dense = {budget: _stat([r["mean"]["dice"] for r in runs])[0]
                 for budget, runs in trainers.get(DENSE, {}).items()}
        multiple = next((r for budgets in trainers.values() for runs in budgets.values() for r in runs
                         if isinstance(r["budget"], int)), None)
        unit = f", 1x = {multiple['iterations'] // multiple['budget']} iterations" if multiple else ""
        lines += [f"\n{kind} ({first['configuration']}{unit})",
                  "| trainer | budget (iterations) | seeds | " + " | ".join(f"Dice {c}" for c in classes) +
                  " | mean Dice | mean HD95 (mm) | % of dense |",
                  "|" + "---|" * (len(classes) + 6)]
        for trainer, budgets in trainers.items():
            for budget, runs in sorted(budgets.items(), key=lambda item: _budget_order(item[0])):
                mean_dice = _stat([r["mean"]["dice"] for r in runs])[0]
                share = f"{100 * mean_dice / dense[budget]:.1f}" if budget in dense and trainer != DENSE else "–"
                cells = [_cell([r["per_class"][c]["dice"] for r in runs], 3) for c in classes]
                cells += [_cell([r["mean"]["dice"] for r in runs], 3), _cell([r["mean"]["hd95"] for r in runs], 1),
                          share]
                lines.append(f"| {label(trainer)} | {budget_label(budget)} ({runs[0]['iterations']}) | "
                             f"{','.join(str(r['seed']) for r in runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_report(records: list[dict], path: Path) -> None:
    """Per dataset, mean Dice and mean HD95 against iterations (log x), one line per trainer (whiskers: sd over
    seeds); the dense model drawn as the dashed black reference line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = grouped(records)
    figure, axes = plt.subplots(len(groups), 2, figsize=(12, 4.2 * len(groups)), squeeze=False)
    for row, (kind, trainers) in zip(axes, groups.items()):
        for trainer, budgets in trainers.items():
            by_iterations = sorted(budgets.values(), key=lambda runs: runs[0]["iterations"])
            iterations = [runs[0]["iterations"] for runs in by_iterations]
            style = dict(color="black", linestyle="--") if trainer == DENSE else {}
            for axis, metric in zip(row, ("dice", "hd95")):
                stats = [_stat([r["mean"][metric] for r in runs]) for runs in by_iterations]
                axis.errorbar(iterations, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                              label=label(trainer), **style)
        for axis, name in zip(row, ("mean Dice", "mean HD95 (mm)")):
            axis.set_xscale("log")
            axis.set_xlabel("training iterations")
            axis.set_ylabel(name)
            axis.set_title(f"{kind}: {name} on the test cases")
            axis.grid(alpha=0.3)
        row[1].set_yscale("log")
        row[0].legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
