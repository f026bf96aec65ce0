"""Break the code on purpose and check that the tests notice: each mutation is applied to a
temporary copy of the working tree, the tests that guard that code run against it, and the
table says which mutations they caught. All must be caught (exit status 1 otherwise).

    python scripts/mutation_check.py                 # every mutation
    python scripts/mutation_check.py --only lr-zero  # one of them

The copy sits next to the repository, so the tests find ``../shared/data`` as usual; it is
removed at the end. The unmutated copy must pass the selected tests first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "feratt-demo", "build",
    "dist", ".hypothesis",
)  # fmt: skip


@dataclass(frozen=True)
class Mutation:
    """Replace `old` by `new` (exactly once) in `path`; `tests` should then fail."""

    name: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "recognizer-class-0",
        "the Recognizer always answers class 0",
        "src/feratt/inference/recognizer.py",
        "        best = int(np.argmax(probabilities))\n        extras",
        "        best = 0\n        extras",
        ("tests/inference/test_recognizer.py", "tests/inference/test_pretrained_recognizer.py"),
    ),
    Mutation(
        "accuracy-shuffled-labels",
        "accuracy computed against shuffled labels",
        "src/feratt/engine/metrics.py",
        '"accuracy": float(np.mean(y_true == y_pred)),',
        '"accuracy": float(np.mean(np.random.default_rng(0).permutation(y_true) == y_pred)),',
        ("tests/engine/test_metrics.py", "tests/engine/test_evaluate.py"),
    ),
    Mutation(
        "lr-zero",
        "the learning rate forced to 0",
        "src/feratt/engine/module.py",
        "            lr=config.lr,\n",
        "            lr=0.0,\n",
        ("tests/engine/test_train.py",),
    ),
    Mutation(
        "soft-target-dropped",
        "soft-label training uses the hard labels",
        "src/feratt/losses.py",
        "cls_target = target if distribution is None else distribution.float()",
        "cls_target = target",
        ("tests/engine/test_soft_labels.py", "tests/test_losses.py"),
    ),
    Mutation(
        "attention-not-detached",
        "G_rep's gradients reach the attention modules despite detach_attention",
        "src/feratt/models/feratt.py",
        "classifier_input = attention_image.detach() if detach_attention else attention_image",
        "classifier_input = attention_image",
        ("tests/models", "tests/engine/test_recipe_learns.py"),
    ),
    Mutation(
        "frozen-attention-refreshed",
        "precise BatchNorm recomputes the statistics of frozen attention modules",
        "src/feratt/engine/precise_bn.py",
        "and m.track_running_stats and not _frozen(m)",
        "and m.track_running_stats",
        (
            "tests/engine/test_train.py::test_frozen_attention_stays_as_it_was_while_g_rep_trains_on",
        ),
    ),
    Mutation(
        "ddp-statistics-not-reduced",
        "precise-BN statistics are not averaged across DDP ranks",
        "src/feratt/engine/precise_bn.py",
        "        if trainer.world_size > 1:",
        "        if False:",
        ("tests/engine/test_ddp.py::test_two_processes_train_one_model_on_different_batches",),
    ),
    Mutation(
        "ddp-scores-not-reduced",
        "logged scores are each rank's own",
        "src/feratt/engine/module.py",
        "                sync_dist=True,",
        "                sync_dist=False,",
        ("tests/engine/test_ddp.py::test_two_processes_train_one_model_on_different_batches",),
    ),
)


def pytest_fails(copy: Path, tests: tuple[str, ...]) -> tuple[bool, float, str]:
    """Run `tests` in `copy` (its own sources first on the path); (failed, seconds, output)."""
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "CI": "true"}
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    run = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)
    if run.returncode not in (0, 1):  # 2-5: collection or usage errors, not a caught mutation
        raise RuntimeError(f"pytest {' '.join(tests)} exited {run.returncode}:\n{run.stdout}")
    return run.returncode == 1, time.perf_counter() - start, run.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[m.name for m in MUTATIONS])
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    # A sibling of the repository, so that ../shared/data is where the tests look for it.
    copy = Path(tempfile.mkdtemp(prefix=".mutation-check-", dir=REPO.parent))
    try:
        shutil.copytree(REPO, copy, symlinks=True, ignore=IGNORED, dirs_exist_ok=True)
        probe = [sys.executable, "-c", "import feratt; print(feratt.__file__)"]
        env = {**os.environ, "PYTHONPATH": str(copy / "src")}
        imported = subprocess.run(probe, env=env, capture_output=True, text=True).stdout
        if not imported.startswith(str(copy)):
            raise RuntimeError(f"the copy's feratt is not the one imported: {imported}")
        selected = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        failed, seconds, output = pytest_fails(copy, selected)
        if failed:
            print(output[-4000:])
            print(f"the unmutated code fails {' '.join(selected)}: fix that first")
            return 1
        print(f"unmutated: the {len(selected)} test selections pass ({seconds:.0f} s)\n")
        print("| mutation | what it breaks | caught | s |")
        print("| --- | --- | --- | ---: |")
        missed = []
        for mutation in chosen:
            target = copy / mutation.path
            original = target.read_text()
            if original.count(mutation.old) != 1:
                raise RuntimeError(f"{mutation.name}: the code to mutate is not once in {target}")
            target.write_text(original.replace(mutation.old, mutation.new))
            try:
                caught, seconds, _ = pytest_fails(copy, mutation.tests)
            finally:
                target.write_text(original)
            missed += [] if caught else [mutation.name]
            mark = "yes" if caught else "**no**"
            print(f"| {mutation.name} | {mutation.what} | {mark} | {seconds:.0f} |", flush=True)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    print(f"\n{len(chosen) - len(missed)} of {len(chosen)} caught" + (
        f"; missed: {', '.join(missed)}" if missed else ""))  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
