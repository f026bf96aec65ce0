"""Demo-sized ablations over several seeds: each variant is a model and dotted config overrides,
trained and scored exactly as `feratt demo` does; prints one table row per (variant, seed).

    python benchmarks/demo_ablation.py --seeds 0 1 2 --out /tmp/ablation \
        --variant "base:preactresnet18" \
        --variant "lr0.1:feratt_rep_cls:train.attention_lr_scale=0.1"

Each finished row is appended to ``OUT/rows.jsonl`` as it comes, so a killed run keeps its rows
and a rerun skips them.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from feratt.engine.demo import DemoSettings, demo_datamodule, experiment
from feratt.engine.experiment import fit_and_evaluate


@dataclass(frozen=True)
class Variant:
    """A named model with the config overrides that make the variant."""

    name: str
    model: str
    overrides: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, model, *rest = text.split(":")
        overrides = tuple(item for item in ",".join(rest).split(",") if item)
        return cls(name, model, overrides)


def run_variant(variant: Variant, seed: int, out: Path) -> dict[str, object]:
    """Train and evaluate one variant at one seed; the row of the table."""
    settings = DemoSettings(out_dir=out / f"{variant.name}-seed{seed}", seed=seed,
                            progress_bar=False)  # fmt: skip
    datamodule = demo_datamodule(settings)
    config = experiment(settings, variant.model, len(datamodule.classes))
    config = config.replace(*variant.overrides)
    start = time.perf_counter()
    result = fit_and_evaluate(config, datamodule, settings.out_dir / "eval")
    accuracy = {r["test"]: round(100 * r["cls"]["accuracy"], 2) for r in result.records}
    return {
        "variant": variant.name,
        "model": variant.model,
        "overrides": list(variant.overrides),
        "seed": seed,
        "real": accuracy.get("real"),
        "synthetic": accuracy.get("synthetic"),
        "selected_step": result.global_step,
        "fit_s": round(result.fit_s, 1),
        "total_s": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variant", action="append", required=True,
                        help="NAME:MODEL[:key=value,key=value]")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    done = set()
    if rows_path.is_file():
        done = {(r["variant"], r["seed"]) for r in map(json.loads, rows_path.open())}
    print("| variant | seed | real | synthetic | selected step | fit s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for seed in args.seeds:
        for variant in map(Variant.parse, args.variant):
            if (variant.name, seed) in done:
                continue
            row = run_variant(variant, seed, args.out)
            with rows_path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"| {row['variant']} | {seed} | {row['real']} | {row['synthetic']} | "
                  f"{row['selected_step']} | {row['fit_s']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
