"""The step at which each fold's training L_cls first falls below a threshold, per model, from the
CSV logs `feratt cv` leaves in every fold folder; the ratio to the first model's step (issue 11's
"FERAtt+Rep+Cls below 1.0 by 1.5 N if the baseline is at N").

    python benchmarks/cls_threshold_steps.py /work/runs/cv/ckplus48_cv_preactresnet18 \
        /work/runs/cv/ckplus48_cv_feratt_rep_cls --threshold 1.0 --after 1500

Values are the logged single-batch ``train/cls_step`` (every ``train.log_every_n_steps``), so a
step is exact to that spacing. ``--after S`` adds the mean logged L_cls over steps >= S (S: where
a staged recipe switches G_rep from I to I_att).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from feratt.engine.plots import read_csv_log


def latest_run(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The points after the last restart: a run that started over (not resumed) logs from its
    first step again below the earlier run's steps."""
    start = 0
    for i in range(1, len(points)):
        if points[i][0] < points[i - 1][0]:
            start = i
    return points[start:]


def first_below(points: list[tuple[int, float]], threshold: float) -> int | None:
    """The first logged step whose value is below `threshold`, or None."""
    return next((step for step, value in points if value < threshold), None)


def mean_from(points: list[tuple[int, float]], start: int) -> str | None:
    """Mean of the values logged at steps >= `start`, two decimals, or None."""
    values = [value for step, value in points if step >= start]
    return f"{sum(values) / len(values):.2f}" if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", type=Path, nargs="+", help="feratt cv experiment folders")
    parser.add_argument("--threshold", type=float, default=1.0)
    parser.add_argument("--after", type=int, default=None)
    args = parser.parse_args()
    steps: dict[str, dict[int, int | None]] = {}
    late: dict[str, dict[int, str | None]] = {}
    for experiment in args.experiments:
        name = experiment.name
        steps[name], late[name] = {}, {}
        for fold_dir in sorted(experiment.glob("fold*"), key=lambda p: int(p.name[4:])):
            points = latest_run(read_csv_log(fold_dir).get("train/cls_step", []))
            if not points:
                continue
            fold = int(fold_dir.name[4:])
            steps[name][fold] = first_below(points, args.threshold)
            if args.after is not None:
                late[name][fold] = mean_from(points, args.after)
    reference = args.experiments[0].name
    folds = sorted(set.intersection(*(set(s) for s in steps.values())))
    header = ["model", "measure", *(f"fold {k}" for k in folds)]
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))

    def row(name: str, measure: str, values: list[object]) -> None:
        print(f"| {name} | {measure} | " + " | ".join("-" if v is None else str(v) for v in values)
              + " |")  # fmt: skip

    for name in steps:
        row(name, f"first step L_cls < {args.threshold}", [steps[name][k] for k in folds])
        if name != reference:
            ratios = [
                None
                if steps[name][k] is None or not steps[reference][k]
                else f"{steps[name][k] / steps[reference][k]:.2f}"
                for k in folds
            ]
            row(name, f"ratio to {reference}", ratios)
        if args.after is not None:
            row(name, f"mean L_cls, steps >= {args.after}", [late[name][k] for k in folds])


if __name__ == "__main__":
    main()
