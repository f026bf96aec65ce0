"""The FastAPI application: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``, the web
page at ``/`` and offline API docs at ``/docs``.

Every refusal is a JSON ``{"detail": "..."}`` with a 4xx/5xx code that says its kind: 413 too
large, 415 not an image, 422 bad request fields, 503 queue full, 504 model too slow.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feratt import __version__
from feratt.data.io import MAX_IMAGE_PIXELS, CorruptImageError, ImageTooLargeError
from feratt.inference.recognizer import Recognizer
from feratt.serve.queue import InferenceQueue, JobTimeout, QueueFull
from feratt.serve.results import predict_uploads
from feratt.serve.schemas import Health, ModelInfo, Prediction, Problem

STATIC = files("feratt.serve") / "static"
_ERRORS = {code: {"model": Problem} for code in (408, 413, 415, 422, 503, 504)}


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one server.

    Args:
        max_upload_bytes: size of a whole ``/v1/predict`` request body.
        max_pixels: pixels of one image (the limit ``feratt predict`` applies too).
        max_images: images in one request.
        workers: model calls that run at once.
        waiting: requests that may wait for a worker before 503s begin.
        timeout_s: how long a request waits for the model before a 504.
        read_timeout_s: how long the server waits for each piece of a request body (408).
    """

    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = MAX_IMAGE_PIXELS
    max_images: int = 16
    workers: int = 1
    waiting: int = 8
    timeout_s: float = 30.0
    read_timeout_s: float = 30.0


def create_app(
    recognizer: Recognizer, name: str = "model", settings: ServeSettings | None = None
) -> FastAPI:
    """The application serving ``recognizer`` (reported as ``name`` by ``/v1/model``)."""
    settings = settings or ServeSettings()
    queue = InferenceQueue(settings.workers, settings.waiting, settings.timeout_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        queue.close()

    app = FastAPIOffline(
        title="feratt",
        version=__version__,
        description="Facial expressions and attention maps (FERAtt) for uploaded photos.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.add_middleware(_ReadTimeout, seconds=settings.read_timeout_s)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    info = _model_info(recognizer, name)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe(err)}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", busy=queue.busy)

    @app.get("/v1/model", response_model=ModelInfo)
    async def model() -> ModelInfo:
        return info

    @app.post(
        "/v1/predict",
        response_model=Prediction,
        responses=_ERRORS,
        max_body_size=settings.max_upload_bytes,
    )
    async def predict(
        images: Annotated[list[UploadFile], File(description="one or more image files")],
        detect: Annotated[
            bool, Query(description="find faces; false: each image is a face")
        ] = True,
        attention: Annotated[bool, Query(description="add base64 PNGs of the attention")] = False,
    ) -> Prediction:
        """Faces, labels and probabilities for each uploaded image."""
        if len(images) > settings.max_images:
            raise HTTPException(413, f"{len(images)} images; at most {settings.max_images}")
        uploads = [
            (image.filename or f"image{i}", await image.read()) for i, image in enumerate(images)
        ]
        job = functools.partial(
            predict_uploads, recognizer, uploads, settings.max_pixels, detect, attention
        )
        try:
            results = await queue.run(job)
        except QueueFull as err:
            raise HTTPException(503, str(err), headers={"Retry-After": "1"}) from None
        except JobTimeout as err:
            raise HTTPException(504, str(err)) from None
        except ImageTooLargeError as err:
            raise HTTPException(413, str(err)) from None
        except CorruptImageError as err:
            raise HTTPException(415, str(err)) from None
        return Prediction(model=info.name, images=results)

    return app


def _model_info(recognizer: Recognizer, name: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        architecture=recognizer.config.name,
        classes=list(recognizer.classes),
        version=__version__,
        input_size=recognizer.config.input_size,
        attention="attention_map" in recognizer.backend.output_names,
        temperature=recognizer.temperature,
    )


def _describe(err: RequestValidationError) -> str:
    """FastAPI's list of field errors as one sentence; a missing upload says how to send one."""
    parts = []
    for error in err.errors():
        field = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
        if field.startswith("images") and error.get("type") == "missing":
            parts.append("no images: send one or more files in the multipart field 'images'")
        else:
            parts.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


class _ReadTimeout:
    """A request whose body stalls for ``seconds`` gets a 408 instead of holding the server."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_receive() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.seconds)
            except asyncio.TimeoutError:
                raise HTTPException(408, f"no request data for {self.seconds:g} s") from None

        await self.app(scope, timed_receive if scope["type"] == "http" else receive, send)
