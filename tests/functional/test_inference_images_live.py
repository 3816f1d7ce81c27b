"""An image model as the service runs it: multipart uploads over real HTTP to uvicorn (the client's own
multipart encoder, several files and clients at once), and through the Lambda handler (mangum) with the
saved API Gateway HTTP API v2 event carrying a base64 multipart body."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlops_inference.app import create_app
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from tests.support import image_models as im
from tooling.inference_local import serving
from tooling.local_lambda import LocalLambdaContext
from tooling.manifest import REPO_ROOT

MODEL = "ct-live"
WINDOW = {"center": 40, "width": 400}


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    im.register(tmp_path, MODEL, 1, im.model_files("segmentation", size=32, window=WINDOW))
    return tmp_path


def test_multipart_uploads_over_real_http_from_several_clients(state):
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0)
    files = [
        ("file", ("lesion.dcm", im.dicom(im.ct_slice(lesion=True)), "application/dicom")),
        ("file", ("clear.dcm", im.dicom(im.ct_slice(lesion=False)), "application/dicom")),
        ("file", ("white.png", im.png(im.grey(255)), "image/png")),
    ]
    with serving(create_app(build_service(settings))) as url:

        def post(_: int) -> httpx.Response:
            return httpx.post(f"{url}/predict", files=files, timeout=30)

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(post, range(16)))
        metrics = httpx.get(f"{url}/metrics").text
    assert {r.status_code for r in responses} == {200}, responses[0].text
    labels = [[p["label"] for p in r.json()["predictions"]] for r in responses]
    assert labels == [["lesion", "background", "lesion"]] * 16
    assert f'inference_confidence_count{{model="{MODEL}",version="1"}} 48.0' in metrics


def multipart(*files: tuple[str, bytes]) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST", "http://x/predict", files=[("file", (n, d, "application/octet-stream")) for n, d in files]
    )
    return request.read(), request.headers["content-type"]


def test_the_lambda_handler_takes_a_base64_multipart_body(state, monkeypatch):
    monkeypatch.setenv("MODEL_NAME", MODEL)
    monkeypatch.setenv("ENV", "dev")
    sys.modules.pop("mlops_inference.lambda_handler", None)
    try:
        module = importlib.import_module("mlops_inference.lambda_handler")
        event = json.loads((REPO_ROOT / "events" / "http" / "apigw-v2-predict.json").read_text())
        body, content_type = multipart(("slice.dcm", im.dicom(im.ct_slice(lesion=True))))
        event["headers"] = {**event["headers"], "content-type": content_type, "content-length": str(len(body))}
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        response = module.handler(event, LocalLambdaContext("inference"))
        gif, gif_type = multipart(("x.gif", b"GIF89a...."))
        refused = {**event, "body": base64.b64encode(gif).decode()}
        refused["headers"] = {**event["headers"], "content-type": gif_type, "content-length": str(len(gif))}
        bad = module.handler(refused, LocalLambdaContext("inference"))
    finally:
        sys.modules.pop("mlops_inference.lambda_handler", None)
    assert response["statusCode"] == 200, response
    [answer] = json.loads(response["body"])["predictions"]
    assert answer["label"] == "lesion" and answer["areas"]["lesion"]["pixels"] > 0
    assert bad["statusCode"] == 415 and json.loads(bad["body"])["detail"][0]["type"] == "unsupported_type"
