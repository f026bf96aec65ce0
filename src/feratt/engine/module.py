"""LightningModule adapter: wires a feratt model, FERAttLoss and the Adam optimiser together.

The network lives in ``self.model`` and the hyper-parameters hold ``model`` (a ModelConfig dict)
and ``classes``, so ``feratt.checkpoint.load_checkpoint`` reads the Lightning checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch

from feratt.checkpoint import build_model
from feratt.config import ModelConfig, TrainConfig
from feratt.data.batches import Batch
from feratt.engine.schedules import LRSchedule
from feratt.losses import face_mask, loss_from_config
from feratt.models.output import FERAttOutput


class FERAttModule(L.LightningModule):
    """Training and validation steps for any registered feratt model.

    Batches are dicts with ``image`` (N, C, S, S) float in [0, 1], ``clean`` (I_org, same shape),
    ``label`` (N,) and ``theta`` (N, 2, 3: each image's affine back to its face's upright frame),
    plus ``target`` (N, K) label distributions when trained on soft labels, as built on the device
    by ``FERAttDataModule``. Every loss term is logged
    separately as ``train/<term>`` and ``val/<term>``, plus ``train/acc`` and ``val/acc``.

    Args:
        model: ModelConfig as a dict.
        classes: class names, in label order.
        train: TrainConfig as a dict (optimiser, schedule and loss settings).
        data: DataConfig as a dict, kept in the checkpoint as a record of the run.
    """

    def __init__(
        self,
        model: dict[str, Any],
        classes: Sequence[str],
        train: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        model_config = ModelConfig.from_dict(model)
        self.train_config = TrainConfig(**(train or {}))
        self.classes = tuple(classes)
        if model_config.num_classes != len(self.classes):
            raise ValueError(
                f"model.num_classes is {model_config.num_classes} but the data has "
                f"{len(self.classes)} classes {list(self.classes)}"
            )
        self.model = build_model(model_config)
        self.loss_fn = loss_from_config(self.train_config)

    def forward(self, image: torch.Tensor) -> FERAttOutput:
        return self.model(image)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        output = self.stage_forward(batch, training=stage == "train")
        losses = self.loss_fn(output, batch.label, batch.clean, batch.target, batch.theta)
        accuracy = (output.logits.argmax(1) == batch.label).float().mean()
        metrics = {f"{stage}/{term}": value.detach() for term, value in losses.items()}
        metrics[f"{stage}/acc"] = accuracy
        training = stage == "train"
        shown = {k: v for k, v in metrics.items() if k.endswith(("/loss", "/acc"))}
        for group, prog_bar in ((shown, True), (metrics.keys() - shown.keys(), False)):
            self.log_dict(
                {k: metrics[k] for k in group},
                on_step=training,
                on_epoch=True,
                batch_size=len(batch.label),
                sync_dist=True,  # a no-op in one process; under DDP, means over the ranks
                prog_bar=prog_bar,
            )
        return losses["loss"]

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        if self.train_config.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def stage_forward(self, batch: Batch, training: bool) -> FERAttOutput:
        """The network as the training schedule's current stage runs it (see TrainConfig): a
        training step's path, or (`training` False) the whole network, except G_rep alone on
        I_org while it warms up on the clean face."""
        config, step = self.train_config, self.global_step
        warming_up = self.model.has_attention and step < config.classifier_warmup_steps
        if warming_up and config.classifier_warmup_input == "clean":
            return self.model.forward_classifier(self._layout(batch.clean))
        image = self._layout(batch.image)
        if not training or not self.model.has_attention:
            return self.model(image)
        if warming_up:
            return self.model.forward_classifier(image)
        if 0 < config.attention_freeze_step <= step:
            self._freeze_attention()
            return self.model(image, detach_attention=True)
        detached = config.attention_detach_steps < 0 or step < config.attention_detach_steps
        blend = config.attention_blend_steps
        weight = min(1.0, (step - config.classifier_warmup_steps) / blend) if blend else 1.0
        teacher = config.alignment_teacher_steps
        aligned = self.model.config.alignment == "moments"
        taught = aligned and (teacher < 0 or step < teacher)
        return self.model(
            image,
            detach_attention=detached,
            attention_weight=weight,
            face_mask=self._layout(face_mask(batch.clean)) if taught else None,
        )

    def _freeze_attention(self) -> None:
        # Every step: Lightning puts the whole module back in train mode after each validation.
        for module in self.model.attention_modules():
            module.eval().requires_grad_(False)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def setup(self, stage: str) -> None:
        # Before the strategy wraps the model (DDP buckets must see the final parameter layout).
        # channels_last pays on the CPU too: oneDNN's NHWC kernels train FERAtt 1.3-2.3x faster
        # there (benchmarks/stage_throughput.py).
        if self.train_config.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def build_optimizer(self) -> torch.optim.Adam:
        """Adam over all parameters with the run's settings (fused on CUDA); the attention
        side (every module but G_rep) at ``lr * attention_lr_scale``."""
        config = self.train_config
        groups: list[dict[str, Any]] = [{"params": list(self.parameters())}]
        if config.attention_lr_scale != 1.0 and self.model.has_attention:
            attention = [p for m in self.model.attention_modules() for p in m.parameters()]
            attention_lr = config.lr * config.attention_lr_scale
            groups = [
                {"params": list(self.model.classifier.parameters()), "name": "G_rep"},
                {"params": attention, "name": "attention", "lr": attention_lr},
            ]
        return torch.optim.Adam(
            groups,
            lr=config.lr,
            weight_decay=config.weight_decay,
            amsgrad=config.amsgrad,
            fused=True if self.device.type == "cuda" else None,
        )

    def configure_optimizers(self) -> dict[str, Any]:
        config = self.train_config
        optimizer = self.build_optimizer()
        staged = config.classifier_warmup_steps > 0 and self.model.has_attention
        if config.lr_schedule == "fixed" and config.lr_warmup_steps == 0 and not staged:
            return {"optimizer": optimizer}
        total_steps = int(self.trainer.estimated_stepping_batches)
        per_epoch = self.trainer.num_training_batches
        schedule = LRSchedule(
            kind=config.lr_schedule,
            total_steps=total_steps,
            steps_per_epoch=int(per_epoch) if math.isfinite(per_epoch) else total_steps,
            warmup_steps=config.lr_warmup_steps,
            step_epochs=config.lr_step_epochs,
            gamma=config.lr_gamma,
            restart_step=config.classifier_warmup_steps if self.model.has_attention else 0,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
