"""The same model served the way the seeds serve it: FastAPI on uvicorn,
ONNX Runtime for inference. Used only as the baseline of app/bench/run."""

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL = os.environ.get("MODEL_PATH", os.path.join(os.path.dirname(__file__), "..", "model", "model.onnx"))
session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
classes = session.get_modelmeta().custom_metadata_map["classes"].split(",")
app = FastAPI()


class Request(BaseModel):
    features: list[float] | None = None
    instances: list[list[float]] | None = None


def run(rows):
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != 4 or not np.isfinite(x).all():
        raise HTTPException(status_code=422, detail="bad input")
    p = session.run(None, {"features": x})[0]
    return [{"class": classes[int(i)], "index": int(i), "probabilities": row.tolist()} for i, row in zip(p.argmax(axis=1), p)]


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/predict")
def predict(request: Request):
    if request.features is not None:
        return {"prediction": run([request.features])[0]}
    if request.instances:
        return {"predictions": run(request.instances)}
    raise HTTPException(status_code=422, detail="send features or instances")
