"""Checkpoint round trips (feratt and Lightning layouts) and their error messages."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest
import torch

from feratt import create_model
from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.models import FERAtt

CLASSES = ("neutral", "happy", "surprise", "sad")


def _model(name: str = "feratt_rep_cls", num_classes: int = 4) -> FERAtt:
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, embedding_dim=8, width=0.125)
    # Non-trivial BN statistics, so the round trip has to carry buffers too.
    model(torch.rand(4, 3, 64, 64))
    return model.eval()


def _assert_same_outputs(a: FERAtt, b: FERAtt) -> None:
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out_a, out_b = a(images), b(images)
    for field in ("logits", "embedding", "attention_image", "attention_map", "features"):
        torch.testing.assert_close(getattr(out_a, field), getattr(out_b, field), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["preactresnet18", "feratt_rep_cls"])
def test_round_trip_rebuilds_the_exact_model(tmp_path: Path, name: str) -> None:
    model = _model(name)
    path = save_checkpoint(tmp_path / "run" / "best.pt", model, CLASSES, {"epoch": 3, "acc": 0.5})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.classes == CLASSES
    assert loaded.metadata == {"epoch": 3, "acc": 0.5}
    assert not loaded.model.training
    _assert_same_outputs(model, loaded.model)
    _assert_same_outputs(model, load_checkpoint(path).model)


@pytest.mark.parametrize("prefix", ["model.", "model._orig_mod."])  # plain / torch.compile'd
def test_reads_a_lightning_checkpoint(tmp_path: Path, prefix: str) -> None:
    model = _model()
    path = tmp_path / "epoch=2.ckpt"
    torch.save(
        {
            "epoch": 2,
            "global_step": 40,
            "pytorch-lightning_version": "2.6.0",
            "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
            "hyper_parameters": {"model": model.config.to_dict(), "classes": list(CLASSES)},
            "optimizer_states": [],
        },
        path,
    )
    loaded = load_checkpoint(path)
    assert loaded.classes == CLASSES and loaded.metadata == {"epoch": 2, "global_step": 40}
    _assert_same_outputs(model, loaded.model)


def test_not_a_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.pt"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt: not a readable feratt checkpoint"):
        load_checkpoint(junk)
    weights_only = tmp_path / "weights.pt"
    torch.save(_model().state_dict(), weights_only)
    with pytest.raises(ValueError, match="weights.pt: not a feratt checkpoint"):
        load_checkpoint(weights_only)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_match_the_config_are_named(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", _model(num_classes=4))
    payload = torch.load(path, weights_only=True)
    payload["config"]["num_classes"] = 7
    del payload["state_dict"]["classifier.embedding.bias"]
    payload["state_dict"]["extra.weight"] = torch.zeros(1)
    torch.save(payload, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "model.pt: weights do not match the stored config" in message
    assert "missing keys (1): classifier.embedding.bias" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "classifier.fc.weight: (4, 8) != (7, 8)" in message


def test_unknown_model_or_config_key_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", _model())
    payload = torch.load(path, weights_only=True)
    payload["config"]["name"] = "vit_huge"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="cannot rebuild the model.*unknown model 'vit_huge'"):
        load_checkpoint(path)


def test_save_rejects_bad_arguments(tmp_path: Path) -> None:
    model = _model()
    with pytest.raises(ValueError, match="2 class names for 4 classes"):
        save_checkpoint(tmp_path / "a.pt", model, classes=("happy", "sad"))
    with pytest.raises(ValueError, match="metadata must be JSON-like"):
        save_checkpoint(tmp_path / "a.pt", model, metadata={"path": Path("x")})
    with pytest.raises(ValueError, match="has no ModelConfig"):
        save_checkpoint(tmp_path / "a.pt", torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    ("width", "message"),
    [
        (100.0, "weights do not match the stored config"),  # ~100 GB if built for real
        (1e6, "cannot rebuild the model from its config: Storage size calculation overflowed"),
    ],
)
def test_a_config_far_from_its_weights_is_refused_before_allocating(
    tmp_path: Path,
    fer2013_dir: Path,
    capsys: pytest.CaptureFixture[str],
    width: float,
    message: str,
) -> None:
    from feratt.cli import main

    path = save_checkpoint(tmp_path / "model.pt", _model(), classes=CLASSES)
    payload = torch.load(path, weights_only=True)
    payload["config"]["width"] = width
    torch.save(payload, path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    with pytest.raises(ValueError, match=f"model.pt: {message}"):
        load_checkpoint(path)
    face = sorted((fer2013_dir / "val" / "happy").glob("*.jpg"))[0]
    assert main(["predict", str(face), "-c", str(path), "--no-detect"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"feratt predict: error: {path}: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 1_000_000  # < 1 GB


def test_fewer_class_names_than_outputs_is_named_at_load(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "model.pt", _model(num_classes=4), classes=CLASSES)
    payload = torch.load(path, weights_only=True)
    payload["classes"] = ["happy", "sad"]
    torch.save(payload, path)
    with pytest.raises(
        ValueError, match=r"model.pt: 2 class names \['happy', 'sad'\] for a model "
    ):
        load_checkpoint(path)


def test_a_full_disk_keeps_the_previous_model_file(tmp_path: Path, file_size_limited) -> None:
    """A save that cannot finish (RLIMIT_FSIZE: EFBIG, as a full disk) names the file and leaves
    the previous one whole, with no temporary file beside it."""
    path = save_checkpoint(tmp_path / "model-best.pt", _model(), classes=CLASSES)
    before = path.read_bytes()
    code = (
        "import sys; from feratt import create_model\n"
        "from feratt.checkpoint import save_checkpoint\n"
        "model = create_model('feratt_rep_cls', num_classes=4, width=0.25)\n"
        "try:\n    save_checkpoint(sys.argv[1], model)\n"
        "except OSError as err:\n    print(err); sys.exit(1)\n"
    )
    run = file_size_limited([sys.executable, "-c", code, str(path)], len(before) + 1000)
    assert run.returncode == 1, run.stderr[-2000:]
    assert run.stdout.strip() == f"[Errno 27] File too large: '{path}'"
    assert path.read_bytes() == before
    assert load_checkpoint(path).classes == CLASSES
    assert [p.name for p in tmp_path.iterdir()] == ["model-best.pt"]
