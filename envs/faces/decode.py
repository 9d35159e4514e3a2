"""Turn one image file into an 8-bit RGB array, or a one-line reason why not.

Every check that can run before decoding does (size on disk, header dimensions, truncation),
so a bad file costs microseconds and a decompression bomb is refused before it is inflated.
"""

from __future__ import annotations

import errno
import io
import os
import warnings

import cv2
import numpy as np

MIN_SIDE = 32  # smaller photos carry no usable face detail
DEFAULT_MAX_PIXELS = 50_000_000  # refuse (not decode) anything with more pixels than this
REDUCED_MIN_SIDE = 512  # JPEGs are decoded reduced (1/2, 1/4, 1/8) down to this shorter side
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


# PIL warns about images over its own pixel limit when merely opening them; we refuse those by
# max_pixels anyway (and catch_warnings() is not thread-safe in the decoding threads).
warnings.filterwarnings("ignore", message="Image size .* could be decompression bomb DOS attack")


class SkipImage(Exception):
    """A file that cannot be used; str(exc) is the reason written to the report."""


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable: permission denied"
    if exc.errno == errno.ENOENT:
        return "broken symlink or file vanished"
    return f"unreadable: {exc.strerror or exc}"


def read_header(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header only (PIL's lazy open: no pixel decoding)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return str(im.format), int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as exc:
        raise SkipImage(f"too large: {exc}") from None
    except Exception:  # noqa: BLE001  (UnidentifiedImageError, SyntaxError from broken headers, ...)
        raise SkipImage("not an image (unrecognised or corrupt header)") from None


def check_complete(data: bytes, fmt: str) -> None:
    """Refuse files cut short: decoders often return a half-grey image without an error."""
    if fmt in ("JPEG", "MPO"):
        # The main image's end-of-image marker; a truncated file has none, or only an EXIF
        # thumbnail's near the start.
        if data.rfind(b"\xff\xd9") < len(data) // 2:
            raise SkipImage("truncated JPEG (no end-of-image marker)")
    elif fmt == "PNG":
        if data.rfind(b"IEND") < len(data) - 64:
            raise SkipImage("truncated PNG (no IEND chunk)")
    elif fmt == "WEBP":
        if len(data) < 12 or int.from_bytes(data[4:8], "little") + 8 > len(data):
            raise SkipImage("truncated WebP")
    elif fmt == "BMP":
        declared = int.from_bytes(data[2:6], "little")
        if declared and declared > len(data):
            raise SkipImage("truncated BMP")


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """OpenCV's decoded array (BGR/BGRA/grey, 8 or 16 bit) -> contiguous uint8 RGB.
    Transparent pixels are composited over mid-grey."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float64) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 2:  # grey + alpha -> BGRA
        img = np.dstack([img[..., 0]] * 3 + [img[..., 1]])
    if img.shape[2] == 4:
        a = img[..., 3:4].astype(np.uint16)
        img = ((img[..., :3].astype(np.uint16) * a + 128 * (255 - a) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB))


def read_image(
    path: str, max_pixels: int = DEFAULT_MAX_PIXELS, reduce: bool = True
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Decode `path` -> (RGB uint8 image, reduction factor r, (full width, full height)).

    With `reduce`, JPEGs are decoded at 1/r resolution (r in 1, 2, 4, 8) keeping the shorter
    side >= REDUCED_MIN_SIDE; re-read with reduce=False when the face needs more pixels.
    Raises SkipImage with the reason for anything unusable.
    """
    try:
        size = os.stat(path).st_size
        if size == 0:
            raise SkipImage("empty file (0 bytes)")
        if size > 4 * max_pixels + (1 << 20):
            raise SkipImage(f"file too large ({size} bytes for max_pixels={max_pixels})")
        data = _read_file(path)
    except OSError as exc:
        raise SkipImage(os_reason(exc)) from None
    if not data:
        raise SkipImage("empty file (0 bytes)")
    fmt, w, h = read_header(data)
    if w * h > max_pixels:
        raise SkipImage(f"too large: {w}x{h} = {w * h} pixels > max_pixels={max_pixels}")
    if min(w, h) < MIN_SIDE:
        raise SkipImage(f"too small: {w}x{h} (minimum side {MIN_SIDE} px)")
    check_complete(data, fmt)
    buf = np.frombuffer(data, np.uint8)
    r = 1
    if fmt in ("JPEG", "MPO"):
        if reduce:
            while r < 8 and min(w, h) // (2 * r) >= REDUCED_MIN_SIDE:
                r *= 2
        flag = {
            1: cv2.IMREAD_COLOR,
            2: cv2.IMREAD_REDUCED_COLOR_2,
            4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8,
        }[r]  # colour flags apply EXIF orientation
    else:
        flag = cv2.IMREAD_UNCHANGED  # keeps 16 bit and alpha so we convert them properly
    try:
        img = cv2.imdecode(buf, flag)
    except cv2.error as exc:
        raise SkipImage(f"could not decode {fmt}: {str(exc).strip().splitlines()[-1]}") from None
    if img is None or img.size == 0:
        raise SkipImage(f"could not decode {fmt} data")
    return to_rgb8(img), r, (w, h)
