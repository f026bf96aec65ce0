"""Live training views: a Lightning logger for a visdom server and the attention-grid callback.

The logger draws one line window per loss term (traces: ``train/..._step``, ``train/..._epoch``,
``val/...``), the callback renders rows of input | attention image I_att | attention map sigmoid(A)
for fixed validation faces each epoch and sends them to every logger that shows images.
"""

from __future__ import annotations

import re
from argparse import Namespace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid, save_image

GRID_WINDOW = "attention_grid"
_SUFFIX = re.compile(r"_(step|epoch)$")


class VisdomLogger(Logger):
    """Posts scalar metrics as line plots and images to a running visdom server.

    Args:
        env: visdom environment (one per run).
        server, port: where ``python -m visdom.server`` listens.
    """

    def __init__(self, env: str, server: str = "http://localhost", port: int = 8097) -> None:
        super().__init__()
        self.env, self.server, self.port = env, server, port
        self._client: Any = None
        self._windows: set[str] = set()

    @property
    def name(self) -> str:
        return self.env

    @property
    def version(self) -> str:
        return ""

    @property
    @rank_zero_only
    def experiment(self) -> Any:
        """The ``visdom.Visdom`` client, connected on first use."""
        if self._client is None:
            import visdom

            message = (
                f"no visdom server at {self.server}:{self.port}; start one with "
                f"`python -m visdom.server -port {self.port}` or use another logger"
            )
            try:
                client = visdom.Visdom(
                    server=self.server,
                    port=self.port,
                    env=self.env,
                    use_incoming_socket=False,
                    raise_exceptions=True,
                )
            except ConnectionError as err:
                raise ConnectionError(message) from err
            if not client.check_connection(timeout_seconds=5):
                raise ConnectionError(message)
            self._client = client
        return self._client

    @staticmethod
    def window_of(metric: str) -> str:
        """The window of a metric: its term without split and step/epoch suffix (``loss``)."""
        return _SUFFIX.sub("", metric.rsplit("/", 1)[-1])

    def _append(self, window: str, **kwargs: Any) -> None:
        client = self.experiment
        if window not in self._windows and not client.win_exists(window):
            client.line(win=window, opts={"title": window, "showlegend": True}, **kwargs)
        else:
            client.line(win=window, update="append", **kwargs)
        self._windows.add(window)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for metric, value in metrics.items():
            if metric == "epoch":
                continue
            self._append(
                self.window_of(metric), X=np.array([step or 0]), Y=np.array([value]), name=metric
            )

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        params = vars(params) if isinstance(params, Namespace) else params
        text = "<br>".join(f"<b>{k}</b>: {v}" for k, v in params.items())
        self.experiment.text(text, win="hyperparameters")

    @rank_zero_only
    def log_image(self, window: str, image: torch.Tensor, step: int | None = None) -> None:
        """Show `image` (C, H, W) float in [0, 1] in `window`, captioned with the step."""
        caption = f"{window} (step {step})" if step is not None else window
        self.experiment.image(image.cpu().numpy(), win=window, opts={"caption": caption})


def attention_grid(module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Rows of input | attention image | attention map (max over classes of sigmoid(A)).

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
        batch = datamodule.eval_batch("val", chunk["index"][: self.n_faces], 0, pl_module.device)
        grid = attention_grid(pl_module.model, batch["image"]).cpu()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.path)
        for logger in trainer.loggers:
            if isinstance(logger, VisdomLogger):
                logger.log_image(GRID_WINDOW, grid, trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(GRID_WINDOW, grid, trainer.global_step)
