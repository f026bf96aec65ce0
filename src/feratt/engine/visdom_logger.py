"""A Lightning logger for a visdom server: one line window per loss term (traces:
``train/..._step``, ``train/..._epoch``, ``val/...``) and image windows (``log_image``).
"""

from __future__ import annotations

import re
from argparse import Namespace
from typing import Any

import numpy as np
import torch
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

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
