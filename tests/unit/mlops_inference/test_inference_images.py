"""Image models in the inference service (issue 19): `.pt2` programs registered the way production
registers them, real PNG, JPEG and DICOM files made here with Pillow and pydicom, uploaded as multipart
`file` parts and as JSON base64; corrupt and hostile files answered 413, 415 or 422, never 5xx."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mlops_inference import request_ids
from mlops_inference.app import create_app
from mlops_inference.image_decode import DecodeLimits, ImageRejected, decode, transfer_syntax
from mlops_inference.image_spec import ImageSpec
from mlops_inference.main import build_service
from mlops_inference.settings import ServiceSettings
from tests.support import image_models as im

MODEL = "ct-tiny"
CT_WINDOW = {"center": 40, "width": 400}


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
    monkeypatch.setenv("MLOPS_EVENTS_STATE_DIR", str(tmp_path))
    return tmp_path


def serve(state, files: dict[str, bytes], **overrides) -> TestClient:
    im.register(state, MODEL, 1, files)
    settings = ServiceSettings(model_name=MODEL, env="dev", reload_s=0, **overrides)
    return TestClient(create_app(build_service(settings)))


def upload(client: TestClient, *files: tuple[str, bytes]):
    return client.post("/predict", files=[("file", (name, data, "application/octet-stream")) for name, data in files])


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? (\S+)$" if wanted else rf"^{re.escape(name)} (\S+)$"
    found = [m for m in (re.match(pattern, line) for line in text.splitlines()) if m]
    assert found, f"{name}{{{wanted}}} not in /metrics"
    return float(found[0].groups()[-1])


# -- answers -----------------------------------------------------------------------------------------------


def test_a_png_upload_is_answered_with_label_confidence_and_every_probability(state):
    with serve(state, im.model_files("binary")) as client:
        ready = client.get("/readyz").json()
        bright = upload(client, ("bright.png", im.png(im.grey(230))))
        dark = upload(client, ("dark.png", im.png(im.grey(20))))
    assert ready["input"]["size"] == [16, 16] and ready["output"]["kind"] == "binary"
    assert bright.status_code == 200, bright.text
    body = bright.json()
    assert (body["model"], body["version"], body["output"], body["kind"]) == (MODEL, 1, "finding", "binary")
    assert re.fullmatch(request_ids.PATTERN, body["request_id"])
    [answer] = body["predictions"]
    assert (answer["filename"], answer["label"]) == ("bright.png", "abnormal")
    assert answer["confidence"] == pytest.approx(max(answer["probabilities"].values()))
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert dark.json()["predictions"][0]["label"] == "normal"


def test_several_files_of_every_kind_in_one_request_are_one_forward_pass(state):
    files = im.model_files("binary", window=CT_WINDOW, scale=255.0)
    rgb = np.zeros((48, 40, 3), dtype=np.uint8)
    rgb[..., 1] = 240
    with serve(state, files) as client:
        response = upload(
            client,
            ("a.png", im.png(im.grey(240))),
            ("b.jpg", im.jpeg(rgb)),
            ("c.dcm", im.dicom(im.ct_slice(lesion=True))),
            ("d.png", im.png(np.full((20, 20), 60000, dtype=np.uint16))),  # a 16-bit PNG
        )
        metrics = client.get("/metrics").text
    assert response.status_code == 200, response.text
    labels = [(p["filename"], p["label"]) for p in response.json()["predictions"]]
    assert [name for name, _ in labels] == ["a.png", "b.jpg", "c.dcm", "d.png"]
    assert labels[0][1] == "abnormal" and labels[2][1] == "normal"  # a CT slice is mostly air: dark
    assert metric(metrics, "inference_batch_rows_count") == 1.0  # the warm-up is no request
    assert metric(metrics, "inference_batch_rows_sum") == 4.0


def test_json_base64_images_are_answered_as_the_same_files_uploaded(state):
    data = im.png(im.grey(200))
    with serve(state, im.model_files("multiclass", channels=3)) as client:
        by_json = client.post("/predict", json={"images": [{"data": base64.b64encode(data).decode(), "filename": "x"}]})
        by_form = upload(client, ("x", data))
    assert by_json.status_code == 200, by_json.text
    assert by_json.json()["predictions"] == by_form.json()["predictions"]
    assert by_json.json()["predictions"][0]["label"] == "bright"
    assert set(by_json.json()["predictions"][0]["probabilities"]) == {"dark", "mid", "bright"}


def test_a_ct_slice_is_windowed_in_hounsfield_units_and_segmented(state):
    files = im.model_files("segmentation", size=32, window=CT_WINDOW)
    with serve(state, files) as client:
        with_lesion = upload(client, ("lesion.dcm", im.dicom(im.ct_slice(lesion=True))))
        without = upload(client, ("clear.dcm", im.dicom(im.ct_slice(lesion=False))))
    assert with_lesion.status_code == 200, with_lesion.text
    answer = with_lesion.json()["predictions"][0]
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask"]["png"]))))
    assert mask.shape == (32, 32) and answer["mask"]["classes"] == ["background", "lesion"]
    # 100 HU is 0.65 in the 40/400 window, soft tissue (40 HU) 0.5, air 0: only the lesion is over 0.5
    lesion_pixels = int((mask == 1).sum())
    assert answer["label"] == "lesion" and 0 < lesion_pixels < 32 * 32 * 0.2
    assert answer["areas"]["lesion"]["pixels"] == lesion_pixels
    assert answer["areas"]["lesion"]["fraction"] + answer["areas"]["background"]["fraction"] == pytest.approx(1.0)
    assert mask[16, 16] == 1 and mask[0, 0] == 0
    clear = without.json()["predictions"][0]
    assert clear["label"] == "background" and clear["areas"]["lesion"]["pixels"] == 0


def test_the_file_s_rescale_wins_and_the_spec_s_is_the_default():
    spec = ImageSpec.from_data(im.spec("binary", window=CT_WINDOW, rescale={"slope": 1.0, "intercept": -1024.0})).input
    limits = DecodeLimits(1 << 20, 1 << 20)
    lesion = im.ct_slice(lesion=True)
    from_file = decode(im.dicom(lesion), spec, limits)
    from_spec = decode(im.dicom(lesion, slope=None, intercept=None), spec, limits)
    assert torch_equal(from_file, from_spec)
    shifted = decode(im.dicom(lesion, intercept=-2024.0), spec, limits)  # 1000 HU lower: all air
    assert float(shifted.max()) == 0.0


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.allclose(a, b))


# -- what a client sees past each limit ----------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return im.PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    data = bytearray(im.jpeg(np.zeros((8, 8), dtype=np.uint8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    value += b"\0" * (len(value) % 2)
    return struct.pack("<HH", 2, element) + vr + struct.pack("<H", len(value)) + value


def dicom_syntax_twice(first: str, last: str) -> bytes:
    """A file meta group naming two transfer syntaxes, an uncompressed one first: pydicom keeps the last,
    so a deflated dataset (a zlib bomb: 2 MB that inflate to gigabytes) hid behind the first."""
    meta = _meta_element(0x10, b"UI", first.encode()) + _meta_element(0x10, b"UI", last.encode())
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = bomb.compress(struct.pack("<HH", 0x0011, 0x1010) + b"OB\0\0" + struct.pack("<I", 1 << 26))
    body += bomb.compress(b"\0" * (1 << 20)) + bomb.flush()
    return b"\0" * 128 + b"DICM" + meta + body


def dicom_implicit_meta() -> bytes:
    """A meta group written as implicit VR (no VR letters), which pydicom reads another way than we would."""
    uid = b"1.2.840.10008.1.2.1.99\0"
    return b"\0" * 128 + b"DICM" + struct.pack("<HHI", 2, 0x10, len(uid)) + uid + zlib.compress(b"\0" * 4096)


NOISE = np.random.default_rng(7).integers(0, 255, (64, 64), dtype=np.uint8)
HOSTILE = [
    (
        "DICOM, transfer syntax twice (deflate bomb behind)",
        dicom_syntax_twice("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"),
        422,
        "undecodable",
    ),
    ("DICOM, meta group in implicit VR", dicom_implicit_meta(), 422, "undecodable"),
    ("wrong magic (a GIF)", b"GIF89a" + b"\0" * 100, 415, "unsupported_type"),
    ("wrong magic (text named .png)", b"hello, I am a PNG", 415, "unsupported_type"),
    ("truncated PNG", im.png(NOISE)[:2000], 422, "undecodable"),
    ("truncated JPEG", im.jpeg(NOISE)[:2000], 422, "undecodable"),
    ("PNG declaring 100000 x 100000", png_declaring(100_000, 100_000), 413, "too_many_pixels"),
    ("PNG declaring 5000 x 5000", png_declaring(5_000, 5_000), 413, "too_many_pixels"),
    ("JPEG declaring 60000 x 60000", jpeg_declaring(60_000, 60_000), 413, "too_many_pixels"),
    ("DICOM declaring 65535 x 65535", im.dicom(im.ct_slice(True), rows=65535, columns=65535), 413, "too_many_pixels"),
    ("DICOM, pixel data cut short", im.dicom(im.ct_slice(True), pixel_data=b"\0" * 100), 422, "undecodable"),
    ("DICOM, truncated file", im.dicom(im.ct_slice(True))[:3000], 422, "undecodable"),
    ("DICOM with 3 frames", im.dicom(im.ct_slice(True), frames=3), 422, "undecodable"),
    ("DICOM, JPEG-LS (no decoder)", im.dicom(im.ct_slice(True), transfer_syntax="1.2.840.10008.1.2.4.80"), 415, ""),
    ("DICOM, deflated", im.deflated_dicom(), 415, "unsupported_type"),
    ("DICOM, unknown syntax", im.dicom(im.ct_slice(True), transfer_syntax="1.2.3.4"), 415, "unsupported_type"),
]


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory):
    state = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_EVENTS_PROFILE", "embedded")
        patch.setenv("MLOPS_EVENTS_STATE_DIR", str(state))
        with serve(state, im.model_files("binary", window=CT_WINDOW), max_image_pixels=4096 * 4096) as client:
            yield client


@pytest.mark.parametrize(("what", "data", "status", "kind"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_and_corrupt_files_are_refused_with_what_is_wrong(hostile_client, what, data, status, kind):
    response = upload(hostile_client, ("good.png", im.png(im.grey(10))), ("bad", data))
    assert response.status_code == status, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "file", 1] and error["input"] == "bad"
    assert error["type"] == (kind or "unsupported_type")


def test_a_compressed_dicom_without_its_decoder_says_what_to_install(hostile_client):
    data = im.dicom(im.ct_slice(True), transfer_syntax="1.2.840.10008.1.2.4.80")
    [error] = upload(hostile_client, ("ls.dcm", data)).json()["detail"]
    assert "JPEG-LS" in error["msg"] and "no decoder for it is installed" in error["msg"]
    assert "pylibjpeg" in error["msg"]


def test_file_size_image_count_and_body_limits(state):
    files = im.model_files("binary")
    with serve(state, files, max_file_bytes=2000, max_images=2, max_upload_bytes=200_000) as client:
        big = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
        too_large = upload(client, ("big.png", im.png(big)))
        too_many = upload(client, *[(f"{i}.png", im.png(im.grey(i))) for i in range(3)])
        far_too_many = upload(client, *[(f"{i}.png", im.png(im.grey(i))) for i in range(9)])
        body = upload(client, ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000))
    assert too_large.status_code == 413 and too_large.json()["detail"][0]["type"] == "file_too_large"
    assert too_many.status_code == 413 and too_many.json()["detail"][0]["type"] == "too_many_images"
    assert far_too_many.status_code == 413 and far_too_many.json()["detail"][0]["type"] == "too_many_images"
    assert body.status_code == 413 and body.json()["detail"] == "request body over 200000 bytes"


def test_requests_the_model_cannot_take(state):
    with serve(state, im.model_files("binary")) as client:
        rows = client.post("/predict", json={"rows": [{"amount": 1}]})
        both = client.post("/predict", json={"rows": [{"a": 1}], "images": [{"data": ""}]})
        not_base64 = client.post("/predict", json={"images": [{"data": "%%%"}]})
        field = client.post("/predict", files={"image": ("a.png", im.png(im.grey(1)))})
        text = client.post("/predict", data={"file": "not a file"}, files={"other": ("x", b"x")})
        broken = client.post(
            "/predict", content=b"--xx\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=xx"}
        )
    assert rows.status_code == 422 and rows.json()["detail"][0]["loc"] == ["body", "rows"]
    assert both.status_code == 422
    assert not_base64.status_code == 422 and not_base64.json()["detail"][0]["loc"] == ["body", "images", 0, "data"]
    assert field.status_code == 422 and field.json()["detail"][0]["loc"] == ["body", "image"]
    assert text.status_code == 422
    assert broken.status_code == 422


def test_a_tabular_model_refuses_uploads_with_415(state):
    from tests.support.inference_support import MODEL as TABULAR
    from tests.support.inference_support import model_files as tabular_files
    from tests.support.inference_support import register as register_tabular

    register_tabular(state, 1, tabular_files())
    settings = ServiceSettings(model_name=TABULAR, env="dev", reload_s=0)
    with TestClient(create_app(build_service(settings))) as client:
        response = upload(client, ("a.png", im.png(im.grey(1))))
        images = client.post("/predict", json={"images": [{"data": "AAAA"}]})
        schema = client.get("/openapi.json").json()
    assert response.status_code == 415
    assert images.status_code == 422 and images.json()["detail"][0]["loc"] == ["body", "images"]
    assert "multipart/form-data" not in schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert schema["components"]["schemas"]["PredictRequest"]["required"] == ["rows"]


def test_the_schema_documents_the_image_model_s_uploads(state):
    with serve(state, im.model_files("binary"), max_images=5) as client:
        schema = client.get("/openapi.json").json()
    content = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["maxItems"] == 5
    request = schema["components"]["schemas"]["PredictRequest"]
    assert request["required"] == ["images"] and "rows" not in request["properties"]


# -- confidence as a metric ------------------------------------------------------------------------------


def test_confidence_per_version_and_the_share_under_the_threshold(state):
    with serve(state, im.model_files("binary"), confidence_threshold=0.8) as client:
        upload(client, ("sure.png", im.png(im.grey(250))))  # mean 0.98: p = 1.0
        upload(client, ("unsure.png", im.png(im.grey(133))), ("unsure2.png", im.png(im.grey(125))))  # p ~ 0.5-0.6
        metrics = client.get("/metrics").text
    assert metric(metrics, "inference_confidence_count", model=MODEL, version="1") == 3.0
    assert metric(metrics, "inference_confidence_bucket", le="0.7", model=MODEL, version="1") == 2.0
    assert metric(metrics, "inference_low_confidence_predictions_total", model=MODEL, version="1") == 2.0
    assert metric(metrics, "inference_low_confidence_share", model=MODEL, version="1") == pytest.approx(2 / 3)
    assert metric(metrics, "inference_confidence_threshold") == 0.8


def test_tabular_predictions_count_their_confidence_too(state):
    from tests.support.inference_support import MODEL as TABULAR
    from tests.support.inference_support import model_files as tabular_files
    from tests.support.inference_support import register as register_tabular

    register_tabular(state, 1, tabular_files())
    settings = ServiceSettings(model_name=TABULAR, env="dev", reload_s=0)
    with TestClient(create_app(build_service(settings))) as client:
        p = client.post("/predict", json={"rows": [{"amount": 50.0, "country": "US"}]}).json()["predictions"][0]
        metrics = client.get("/metrics").text
    assert metric(metrics, "inference_confidence_sum", model=TABULAR, version="1") == pytest.approx(max(p, 1 - p))
    assert metric(metrics, "inference_confidence_threshold") == 0.7


# -- the parsers, on anything (hypothesis) -----------------------------------------------------------------

LIMITS = DecodeLimits(1 << 20, 1 << 16)
SPEC = ImageSpec.from_data(im.spec("binary", size=8, window=CT_WINDOW)).input
SEEDS = [
    im.png(np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)),
    im.jpeg(np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)),
    im.dicom(im.ct_slice(True, size=16)),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(min_value=0, max_value=2000),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=4000), st.integers(0, 255)), max_size=8),
)
def test_mutated_files_decode_or_are_refused_never_raise_anything_else(seed, cut, flips):
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    data = bytes(data[: max(0, len(data) - cut)])
    try:
        tensor = decode(data, SPEC, LIMITS)
    except ImageRejected as refused:
        assert refused.status in (413, 415, 422) and refused.message
    else:
        assert tuple(tensor.shape) == (1, 8, 8)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_the_dicom_meta_group_parser_takes_any_bytes(tail):
    found = transfer_syntax(b"\0" * 128 + b"DICM" + tail)
    assert found is None or isinstance(found, str)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\0" * 128 + b"DICM", b""]), tail=st.binary())
def test_any_upload_is_answered_without_a_server_error(hostile_client, magic, tail):
    response = upload(hostile_client, ("x", magic + tail))
    assert response.status_code in (200, 413, 415, 422), response.text


# -- the spec, the formats, the settings ------------------------------------------------------------------


def test_the_pt2_image_model_went_through_the_registry_as_a_torch_export_program(state):
    from shared.deps import current_deps

    with serve(state, im.model_files("segmentation")) as client:
        assert client.get("/readyz").json()["output"] == {
            "kind": "segmentation",
            "name": "finding",
            "classes": ["background", "lesion"],
        }
    formats = {row["path"]: row["format"] for row in current_deps().registry.artifacts(MODEL, "dev")}
    assert formats == {"model.json": "json", "model.pt2": "torch-export"}


def test_a_tabular_model_may_be_a_pt2_program_too():
    import json

    import torch

    from mlops_inference.model import load_model
    from tests.support.inference_support import SPEC, model_files

    scripted = torch.jit.load(io.BytesIO(model_files(bias=1.0)["model.pt"]))
    layer = torch.nn.Linear(SPEC.input_width, 1).eval()
    layer.load_state_dict({"weight": scripted.weight, "bias": scripted.bias})
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(layer, (torch.zeros(2, SPEC.input_width),), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    spec = {**SPEC.to_json(), "weights": "model.pt2"}
    files = {"model.json": json.dumps(spec).encode(), "model.pt2": buffer.getvalue()}
    rows = [{"amount": 62.5, "country": "US"}]
    from_program = load_model("m", 1, files).predict(rows)
    from_script = load_model("m", 1, model_files(bias=1.0)).predict(rows)
    assert from_program == pytest.approx(from_script)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input": {"kind": "image", "size": [0, 16]}}, "input.size"),
        ({"input": {"kind": "image", "size": [16, 16], "channels": 2}}, "input.channels"),
        ({"input": {"kind": "image", "size": [16, 16], "std": [0.0]}}, "input.std"),
        ({"input": {"kind": "image", "size": [16, 16], "window": {"center": 40, "width": -1}}}, "window.width"),
        ({"output": {"kind": "multiclass", "labels": ["only"]}}, "output.labels"),
        ({"output": {"kind": "regression"}}, "output.kind"),
        ({"output": {"kind": "segmentation", "classes": ["a", "a"]}}, "each name once"),
    ],
)
def test_an_image_spec_that_cannot_be_served_is_refused_by_name(change, message):
    import json

    from mlops_inference.model import ModelError, read_spec

    with pytest.raises(ModelError, match=message):
        read_spec(json.dumps({**im.spec("binary"), **change}).encode())


def test_a_module_whose_output_does_not_fit_the_spec_is_not_served():
    from mlops_inference.model import ModelError, load_model

    files = im.model_files("binary")
    files["model.json"] = json.dumps(im.spec("multiclass")).encode()  # 3 labels; the module gives 1 logit
    with pytest.raises(ModelError, match=r"expected \(2, 3\)"):
        load_model("m", 1, files)


def test_the_image_settings_from_the_environment():
    from mlops_inference.settings import SettingsError

    base = {"MODEL_NAME": "ct", "ENV": "dev"}
    defaults = ServiceSettings.from_env(base)
    assert (defaults.max_image_pixels, defaults.max_images, defaults.confidence_threshold) == (4096 * 4096, 32, 0.7)
    custom = ServiceSettings.from_env(
        {
            **base,
            "INFERENCE_CONFIDENCE_THRESHOLD": "0.9",
            "INFERENCE_MAX_FILE_BYTES": "1000",
            "INFERENCE_DECODE_THREADS": "4",
        }
    )
    assert (custom.confidence_threshold, custom.max_file_bytes, custom.decode_threads) == (0.9, 1000, 4)
    for raw in ("0", "1", "1.5", "nan", "high"):
        with pytest.raises(SettingsError, match="INFERENCE_CONFIDENCE_THRESHOLD"):
            ServiceSettings.from_env({**base, "INFERENCE_CONFIDENCE_THRESHOLD": raw})
    with pytest.raises(SettingsError, match="INFERENCE_MAX_IMAGE_PIXELS"):
        ServiceSettings.from_env({**base, "INFERENCE_MAX_IMAGE_PIXELS": "0"})


def test_concurrent_requests_images_share_one_forward_pass_and_a_new_version_is_picked_up(state):
    import asyncio

    from mlops_inference.image_spec import ImageItem

    im.register(state, MODEL, 1, im.model_files("binary"))
    service = build_service(ServiceSettings(model_name=MODEL, env="dev", reload_s=0))
    spec = ImageSpec.from_data(im.spec("binary")).input
    limits = DecodeLimits(1 << 20, 1 << 20)

    def items(*values: int) -> list[ImageItem]:
        return [ImageItem(decode(im.png(im.grey(v)), spec, limits), spec) for v in values]

    async def run() -> tuple[list, list, list]:
        await service.start()
        try:
            first, second = await asyncio.gather(service.predict(items(250, 10)), service.predict(items(240)))
            im.register(state, MODEL, 2, im.model_files("multiclass"))
            assert await asyncio.to_thread(service.holder.refresh)
            swapped = await service.predict(items(250))  # v2 takes the same input: its batch runs on v2
            return first, second, swapped
        finally:
            await service.stop()

    first, second, swapped = asyncio.run(run())
    assert [p.label for p, *_ in first + second] == ["abnormal", "normal", "abnormal"]
    # each request's id, the same for its images, issued with its forward pass
    assert first[0][3] == first[1][3] != second[0][3] and service.ids.check(first[0][3]).rows == 2
    from prometheus_client import generate_latest

    text = generate_latest(service.metrics.registry).decode()
    assert metric(text, "inference_batch_rows_count") == 2.0  # the two requests' 3 images, then 1
    assert metric(text, "inference_batch_rows_sum") == 4.0
    assert (swapped[0][2], swapped[0][0].label) == (2, "bright")
