"""Experiment configs: YAML includes, dotted overrides, and errors that name the key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from feratt.config import PACKAGED_CONFIGS, ExperimentConfig, ModelConfig, load_config
from feratt.engine.train import check_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RUNS = sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "base.yaml")


@pytest.mark.parametrize("path", RUNS, ids=[p.stem for p in RUNS])
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    data_set, model = path.stem.split("_", 1)
    assert config.name == path.stem
    assert config.model.name == model
    assert config.model.num_classes == (8 if data_set in ("ckplus", "ferplus") else 7)
    assert config.train.lr == pytest.approx(1e-4) and config.train.amsgrad
    assert config.train.weight_decay == 0.0


def test_shipped_configs_cover_the_paper_runs() -> None:
    names = {p.stem for p in RUNS}
    for data_set in ("ckplus", "bu3dfe", "fer2013", "ckplus48"):
        for model in ("preactresnet18", "feratt_cls", "feratt_rep_cls"):
            assert f"{data_set}_{model}" in names


def test_the_repository_configs_folder_links_to_the_packaged_one() -> None:
    assert CONFIGS.is_symlink() and CONFIGS.resolve() == PACKAGED_CONFIGS.resolve()


def test_packaged_configs_load_by_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    release = load_config("release/fer2013_feratt")
    assert release == load_config(CONFIGS / "release" / "fer2013_feratt.yaml")
    assert release.name == "fer2013_feratt" and release.run_dir == Path("runs/fer2013_feratt")
    assert (release.model.name, release.model.num_classes) == ("feratt_rep_cls", 7)
    assert (release.data.mode, release.data.val_mode) == ("mixed", "real")
    assert release.data.path == "../shared/data/fer2013"  # still read from the working folder
    assert load_config("fer2013_feratt_rep_cls.yaml") == load_config("fer2013_feratt_rep_cls")
    (tmp_path / "fer2013_feratt_rep_cls.yaml").write_text("model: {name: preactresnet18}\n")
    assert load_config("fer2013_feratt_rep_cls.yaml").model.name == "preactresnet18"  # file first


def test_unknown_config_names_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(FileNotFoundError, match="did you mean 'fer2013_feratt_rep_cls'"):
        load_config("fer2013_feratt_rep")
    from feratt.cli import main

    assert main(["train", "--config", "no_such_recipe"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "feratt train: error: config 'no_such_recipe' is neither a file nor the name of a "
        f"packaged config (see {PACKAGED_CONFIGS})"
    )


def test_includes_merge_in_order_and_the_file_wins(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "train: {lr: 1.0e-3, max_epochs: 7}\ndata: {batch_size: 4}\n"
    )
    (tmp_path / "more.yaml").write_text("defaults: base.yaml\ntrain: {max_epochs: 9}\n")
    (tmp_path / "run.yaml").write_text(
        "defaults: [more.yaml]\nname: custom\ndata: {mode: real}\nmodel: {width: 0.5}\n"
    )
    config = load_config(tmp_path / "run.yaml", ["train.lr=2e-4", "data.compositor.blur_p=0.1"])
    assert config.name == "custom"
    assert (config.train.lr, config.train.max_epochs) == (2e-4, 9)
    assert (config.data.batch_size, config.data.mode) == (4, "real")
    assert config.data.compositor == {"blur_p": 0.1}
    assert config.model == ModelConfig(width=0.5)


def test_round_trip_and_run_dir() -> None:
    config = ExperimentConfig().replace("data.folds=10", "data.fold=3", "name=x", "output_dir=out")
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert config.run_dir == Path("out/x/fold3")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown config key 'train.lrr'; did you mean 'train.lr'"),
        ("modle.width=1", "unknown config key 'modle'; did you mean 'model'"),
        ("train.lr=fast", "config key 'train.lr' must be float"),
        ("data.batch_size=2.5", "config key 'data.batch_size' must be int"),
        ("train.amsgrad=1", "config key 'train.amsgrad' must be bool"),
        ("data.mode=cartoon", "data.mode must be one of real, synthetic, mixed"),
        ("train.lr_schedule=linear", "train.lr_schedule must be one of fixed, step, cosine"),
        ("data.val_mode=clean", "data.val_mode must be one of real, synthetic, mixed"),
        ("train.lr_warmup_steps=-5", "train.lr_warmup_steps must be >= 0"),
        ("data.folds=5", "data.fold must be in [0, 5)"),
        ("data.fold=2", "data.fold is 2 but data.folds is 0"),
        ("train", "not of the form key=value"),
    ],
)
def test_config_errors_name_the_key(override: str, message: str) -> None:
    base = ["data.folds=10", "data.fold=7"] if override.startswith("data.folds") else []
    with pytest.raises(ValueError) as err:
        ExperimentConfig().replace(*base, override)
    assert message in str(err.value)


def test_missing_paths_fail_before_training(tmp_path: Path) -> None:
    config = ExperimentConfig()
    with pytest.raises(ValueError, match="data.path is not set"):
        check_config(config)
    with pytest.raises(FileNotFoundError, match="data.path: .*nowhere does not exist"):
        check_config(config.replace(f"data.path={tmp_path / 'nowhere'}"))
    with pytest.raises(FileNotFoundError, match="data.backgrounds: .* is not a folder"):
        check_config(config.replace(f"data.path={tmp_path}", f"data.backgrounds={tmp_path}/bg"))
    with pytest.raises(ValueError, match="data.compositor"):
        check_config(config.replace("data.compositor.no_such_option=1"), needs_data_paths=False)


def test_missing_config_file_and_cycles(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "a.yaml").write_text("defaults: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("defaults: [a.yaml]\n")
    with pytest.raises(ValueError, match="includes itself"):
        load_config(tmp_path / "a.yaml")


def test_cli_reports_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from feratt.cli import main

    status = main(
        ["train", "--config", str(CONFIGS / "ckplus48_feratt_cls.yaml"), "train.epochs=3"]
    )
    assert status == 1
    assert "unknown config key 'train.epochs'" in capsys.readouterr().err


LAUGHS = "".join(
    f"l{k}: &l{k} [{','.join([f'*l{k - 1}'] * 9) if k else ','.join(['lol'] * 9)}]\n"
    for k in range(8)
)


@pytest.mark.parametrize(
    ("text", "override", "message"),
    [
        ("train: {lr: [1,\n", None, "{file}: invalid or unsafe YAML: expected the node content"),
        ("name: !!python/object:os.system {}\n", None, "{file}: invalid or unsafe YAML: could not"),
        (LAUGHS + "name: [*l7,*l7,*l7]\n", None, "{file}: invalid or unsafe YAML: its aliases"),
        (f"name: {list(range(5000))}\n", None, "config key 'name' must be str; got [0, 1, 2,"),
        ("train: {lr: 1.0e-3}\n", "train.lr=[1,", "override 'train.lr=[1,': invalid or unsafe"),
    ],
    ids=["syntax", "python-tag", "alias-bomb", "long-value", "override"],
)
def test_bad_yaml_is_a_short_one_line_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    override: str | None,
    message: str,
) -> None:
    from feratt.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert main(["train", "--config", str(config), *([override] if override else [])]) == 1
    err = capsys.readouterr().err
    assert message.format(file=f"config file {config}") in err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 500
    assert not (tmp_path / "runs").exists() and not Path("runs/bad").exists()


def test_cpu_comparisons_share_one_recipe_across_data_sets() -> None:
    """The FER2013 comparison trains as the CK+48 folds do; it tests on val (PublicTest) and
    selects on a share of train."""
    for model in ("preactresnet18", "feratt_cls", "feratt_rep_cls"):
        ckplus = load_config(f"cpu/ckplus48_cv_{model}")
        fer = load_config(f"cpu/fer2013_cmp_{model}")
        assert fer.name == f"fer2013_cmp_{model}" and fer.model == ckplus.model
        assert replace(fer.train, max_epochs=-1) == replace(ckplus.train, max_epochs=-1)
        assert (fer.data.format, fer.data.val_split, fer.data.test_split) == (
            "fer2013-folders",
            None,
            "val",
        )
        assert fer.data.mode == ckplus.data.mode and fer.data.batch_size == ckplus.data.batch_size
        assert fer.data.steps_per_epoch * fer.train.max_epochs >= fer.train.max_steps
