"""Image files from a /predict request, decoded off the event loop, and the answer per image.

Files come as `multipart/form-data` `file` parts or as JSON `{"images": [{"data": base64, "filename"?}]}`.
Decoding runs in a pool of INFERENCE_DECODE_THREADS threads (Pillow and numpy release the GIL for most
of it), every file of a request at once, at most that many at a time in the whole service; the decoded
tensors go to the micro-batcher like rows. A request with any file refused is refused whole: its status
is the first refused file's (413, 415 or 422) and `detail` names every refused file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_inference.errors import SafeJSONResponse, clean_errors
from mlops_inference.image_decode import DecodeLimits, ImageRejected, decode

if TYPE_CHECKING:
    from starlette.requests import Request

    from mlops_inference.image_spec import ImageInput, ImagePrediction


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes
    loc: tuple[str | int, ...]  # where it was in the request, for the errors


class RequestRefused(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{status}: {errors[:1]}")
        self.status, self.errors = status, errors

    def response(self) -> SafeJSONResponse:
        return SafeJSONResponse({"detail": clean_errors(self.errors)}, status_code=self.status)


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "multipart/form-data"


async def uploads_from_form(request: Request, max_images: int) -> list[Upload]:
    """The `file` parts, in order. Another field, or a `file` that is text, is a 422."""
    from starlette.datastructures import UploadFile

    try:
        form = await request.form(max_files=max_images + 1, max_fields=max_images + 1)
    except Exception as exc:  # python-multipart's and Starlette's refusals of a malformed body
        detail = str(getattr(exc, "detail", None) or exc or type(exc).__name__)
        if detail.startswith("Too many files"):  # Starlette stops reading past max_files
            message = f"more than {max_images} images; at most {max_images} per request"
            raise RequestRefused(413, [_error(("body",), message, "too_many_images")]) from None
        raise RequestRefused(
            422, [_error(("body",), f"unreadable multipart body: {detail}", "multipart_invalid")]
        ) from None
    try:
        uploads: list[Upload] = []
        errors: list[dict[str, Any]] = []
        for key, value in form.multi_items():
            if key != "file":
                errors.append(
                    _error(("body", key), "not a field of /predict: send images as `file` parts", "extra_forbidden")
                )
            elif not isinstance(value, UploadFile):
                errors.append(_error(("body", "file", len(uploads)), "a text field, not a file", "file_expected"))
            else:
                uploads.append(Upload(value.filename, await value.read(), ("body", "file", len(uploads))))
    finally:
        await form.close()
    if errors:
        raise RequestRefused(422, errors)
    return _counted(uploads, max_images)


def uploads_from_json(images: list[Any], max_images: int) -> list[Upload]:
    uploads: list[Upload] = []
    errors: list[dict[str, Any]] = []
    for i, image in enumerate(images):
        try:
            data = base64.b64decode(image.data, validate=True)
        except (binascii.Error, ValueError):
            errors.append(_error(("body", "images", i, "data"), "not base64", "base64_invalid"))
            continue
        uploads.append(Upload(image.filename, data, ("body", "images", i)))
    if errors:
        raise RequestRefused(422, errors)
    return _counted(uploads, max_images)


def _counted(uploads: list[Upload], max_images: int) -> list[Upload]:
    if not uploads:
        raise RequestRefused(422, [_error(("body", "file"), "no image: send one or more `file` parts", "missing")])
    if len(uploads) > max_images:
        message = f"{len(uploads)} images; at most {max_images} per request"
        raise RequestRefused(413, [_error(("body",), message, "too_many_images")])
    return uploads


def _error(loc: tuple[str | int, ...], message: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": message, "type": kind}


class ImageDecoder:
    """The decoding pool of the service: bounded parallelism, off the event loop."""

    def __init__(self, threads: int, limits: DecodeLimits) -> None:
        self.limits = limits
        self._pool = concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix="decode")

    async def decode_all(self, uploads: list[Upload], spec: ImageInput) -> list[Any]:
        """A tensor per upload, in order; refused whole if any file is."""
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self._pool, _decode_one, u.data, spec, self.limits) for u in uploads]
        results = await asyncio.gather(*futures)
        refused = [(u, r) for u, r in zip(uploads, results, strict=True) if isinstance(r, ImageRejected)]
        if refused:
            errors = [
                {**_error(u.loc, r.message, r.kind), **({"input": u.filename} if u.filename else {})}
                for u, r in refused
            ]
            raise RequestRefused(refused[0][1].status, errors)
        return results

    async def run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _decode_one(data: bytes, spec: ImageInput, limits: DecodeLimits) -> Any:
    try:
        return decode(data, spec, limits)
    except ImageRejected as refused:
        return refused


def answers(uploads: list[Upload], predictions: list[ImagePrediction]) -> list[dict[str, Any]]:
    """The JSON of each image's prediction; a segmentation mask as a PNG (CPU work: run it in the pool)."""
    out = []
    for upload, prediction in zip(uploads, predictions, strict=True):
        answer: dict[str, Any] = {
            "filename": upload.filename,
            "label": prediction.label,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
        }
        if prediction.mask is not None:
            height, width = prediction.mask.shape
            answer["mask"] = {
                "png": base64.b64encode(_png(prediction.mask)).decode(),
                "width": width,
                "height": height,
                "classes": list(prediction.probabilities),  # a pixel's value is its class's index here
            }
            answer["areas"] = prediction.areas
        out.append(answer)
    return out


def _png(mask: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="PNG")  # uint8 [height, width]: mode L
    return buffer.getvalue()
