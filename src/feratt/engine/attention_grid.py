"""The attention-grid callback: rows of input | attention image I_att | attention map sigmoid(A)
for fixed validation faces, written to the run folder and sent to TensorBoard and visdom."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid, save_image

from feratt.engine.visdom_logger import VisdomLogger

GRID_WINDOW = "attention_grid"


def attention_grid(module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Rows of input | attention image | attention map (max over classes of sigmoid(A))
    [| the aligned attention image G_rep classifies, for models that align it].

    Models without attention (the baseline) give a single column of inputs.
    """
    with torch.no_grad():
        output = module(images)
    columns = [images]
    if output.attention_image is not None:
        columns.append(output.attention_image.float().clamp(0, 1))
    if output.attention_map is not None:
        heat = torch.sigmoid(output.attention_map.float()).amax(1, keepdim=True)
        columns.append(heat.expand(-1, images.shape[1], -1, -1))
    if output.aligned_image is not None:
        columns.append(output.aligned_image.float().clamp(0, 1))
    columns = [c.expand(-1, 3, -1, -1) if c.shape[1] == 1 else c for c in columns]
    rows = torch.stack(columns, 1).flatten(0, 1)
    return make_grid(rows, nrow=len(columns), padding=2, pad_value=1.0)


class AttentionGridCallback(L.Callback):
    """Each `every_n_epochs` validation, renders the attention grid of the first validation faces,
    writes it to ``run_dir/attention_grid.png`` and sends it to TensorBoard and visdom loggers.
    """

    def __init__(self, run_dir: Path, every_n_epochs: int = 1, n_faces: int = 8) -> None:
        self.path = Path(run_dir) / "attention_grid.png"
        self.every_n_epochs = every_n_epochs
        self.n_faces = n_faces

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        datamodule = trainer.datamodule
        chunk = datamodule.eval_chunks("val")[0]
        batch = datamodule.eval_batch("val", chunk.index[: self.n_faces], 0, pl_module.device)
        grid = attention_grid(pl_module.model, batch.image).cpu()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.path)
        for logger in trainer.loggers:
            if isinstance(logger, VisdomLogger):
                logger.log_image(GRID_WINDOW, grid, trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(GRID_WINDOW, grid, trainer.global_step)
