"""The API's request results as pydantic models: they validate what the server returns and
give the OpenAPI schema its types."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Box(BaseModel):
    """A face's rectangle in the pixels of its image."""

    x: int
    y: int
    w: int
    h: int


class FaceImages(BaseModel):
    """Base64 PNGs of what the model saw and looked at (``attention=true``); the attention
    pictures are null for models without attention (the baseline)."""

    input: str = Field(description="the grey face crop the model classified")
    attention_image: str | None = Field(description="I_att, the face the attention module rebuilt")
    attention_map: str | None = Field(
        description="sigmoid of the attention logits of the predicted class over the input"
    )


class Face(BaseModel):
    """One face: where it is and what the model says."""

    box: Box
    label: str
    confidence: float
    probabilities: dict[str, float] = Field(description="class name -> probability, model order")
    images: FaceImages | None = None


class ImageResult(BaseModel):
    """The faces of one uploaded image, largest first ([] when none was found)."""

    filename: str
    width: int
    height: int
    faces: list[Face]


class Prediction(BaseModel):
    """``POST /v1/predict``: one result per uploaded image, in upload order."""

    model: str
    images: list[ImageResult]


class ModelInfo(BaseModel):
    """``GET /v1/model``: what the server runs."""

    name: str
    architecture: str
    classes: list[str]
    version: str = Field(description="feratt version")
    input_size: int = Field(description="side of the square face crop, pixels")
    attention: bool = Field(description="whether faces come with attention pictures")
    temperature: float = Field(description="the logits are divided by it before the softmax")


class Health(BaseModel):
    """``GET /healthz``."""

    status: str
    busy: int = Field(description="requests running or waiting for the model")


class Problem(BaseModel):
    """Any error: the status code says its kind, ``detail`` what was wrong."""

    detail: str
