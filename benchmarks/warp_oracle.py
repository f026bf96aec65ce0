"""How much of a trained model's loss on synthetic faces is geometry, and, for the aligned FERAtt,
how much is G_att's mask? Scores one checkpoint of the demo on its seed's test people: real faces,
synthetic ones as composited, the same un-warped by the compositor's own inverse affine (the
oracle an aligner could at best reach), and the clean faces on black, warped and un-warped. For a
model with ``model.alignment=moments`` it adds G_rep on I_att aligned by the true mask, on the
composite cut out by the true mask and aligned by it, on the composite cut out by G_att's mask,
and G_att's mask IoU against the true one. Prints one markdown row and saves a picture.

    python benchmarks/warp_oracle.py --seed 0 --checkpoint RUN/model-best.pt
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.utils import save_image

from feratt.checkpoint import load_checkpoint
from feratt.data.batches import Batch
from feratt.engine.demo import DemoSettings, demo_datamodule
from feratt.losses import face_mask
from feratt.models.alignment import attention_face, moment_alignment
from feratt.models.feratt import FERAtt
from feratt.models.stn import apply_affine


@dataclass(frozen=True)
class Faces:
    """One chunk of test faces: real, composited, and G_att's mask of the composites (aligned
    models only, computed once per chunk)."""

    real: Batch
    synthetic: Batch
    attention_mask: torch.Tensor | None


View = Callable[[FERAtt, Faces], tuple[torch.Tensor, torch.Tensor | None]]


def _through_model(pick: Callable[[Faces], torch.Tensor]) -> View:
    def view(model: FERAtt, faces: Faces) -> tuple[torch.Tensor, torch.Tensor]:
        images = pick(faces)
        return model(images).logits, images

    return view


def _cut_out(model: FERAtt, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """G_rep alone on `image` * `mask` aligned by the mask's moments."""
    aligned = apply_affine(image * (mask > 0.5), moment_alignment(mask))
    return model.forward_classifier(aligned).logits, aligned


VIEWS: dict[str, View] = {
    "real": _through_model(lambda f: f.real.image),
    "synthetic": _through_model(lambda f: f.synthetic.image),
    "synthetic un-warped": _through_model(
        lambda f: apply_affine(f.synthetic.image, f.synthetic.theta)
    ),
    "clean warped": _through_model(lambda f: f.synthetic.clean),
    "clean un-warped": _through_model(lambda f: apply_affine(f.synthetic.clean, f.synthetic.theta)),
}
ALIGNED_VIEWS: dict[str, View] = {
    "I_att, true-mask aligned": lambda model, f: (
        model(f.synthetic.image, face_mask=face_mask(f.synthetic.clean)).logits,
        None,
    ),
    "true-mask cut-out": lambda model, f: _cut_out(
        model, f.synthetic.image, face_mask(f.synthetic.clean)
    ),
    "G_att-mask cut-out": lambda model, f: _cut_out(model, f.synthetic.image, f.attention_mask),
}


def mask_overlap(faces: Faces) -> tuple[float, float]:
    """(intersection, union) pixel counts of G_att's thresholded mask and the true face mask."""
    predicted, true = faces.attention_mask > 0.5, face_mask(faces.synthetic.clean) > 0.5
    return (predicted & true).sum().item(), (predicted | true).sum().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the demo seed the model trained on")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3, help="synthetic draws per test face")
    args = parser.parse_args()
    datamodule = demo_datamodule(DemoSettings(seed=args.seed, progress_bar=False))
    datamodule.setup("fit")
    model = load_checkpoint(args.checkpoint).model.eval()
    aligned = model.has_attention and model.config.alignment == "moments"
    views = {**VIEWS, **(ALIGNED_VIEWS if aligned else {})}
    n, cpu = len(datamodule.faces["test"]), torch.device("cpu")
    hits, overlap = dict.fromkeys(views, 0), [0.0, 0.0]
    with torch.no_grad():
        for repeat in range(args.repeats):
            for start in range(0, n, 64):
                index = torch.arange(start, min(n, start + 64))
                real = datamodule.eval_batch("test", index, repeat, cpu, synthetic=False)
                batch = datamodule.eval_batch("test", index, repeat, cpu, synthetic=True)
                mask = attention_face(model(batch.image).attention_map) if aligned else None
                faces = Faces(real, batch, mask)
                shown = []
                for name, view in views.items():
                    logits, images = view(model, faces)
                    hits[name] += (logits.argmax(1) == batch.label).sum().item()
                    if images is not None:
                        shown.append(images[:12].expand(-1, 3, -1, -1))
                if repeat == 0 and start == 0:
                    picture = args.checkpoint.parent / "warp_oracle.png"
                    save_image(torch.cat(shown), picture, nrow=12)
                if aligned:
                    inside, either = mask_overlap(faces)
                    overlap = [overlap[0] + inside, overlap[1] + either]
    names = list(views) + (["G_att mask IoU"] if aligned else [])
    scores = [f"{100 * hits[name] / (args.repeats * n):.2f}" for name in views]
    scores += [f"{overlap[0] / overlap[1]:.3f}"] if aligned else []
    print("| seed | " + " | ".join(names) + " |")
    print(f"| {args.seed} | " + " | ".join(scores) + " |")


if __name__ == "__main__":
    main()
