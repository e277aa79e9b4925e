"""Image decoding and resizing with Pillow: the one copy shared by training, export and the SDK.

Normalisation (mean/std) is NOT done here: it lives inside the exported image graph, so
callers pass raw 0..255 pixels. Training's eval transform is `preprocess` itself.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from seje_sdk.errors import InputError
from seje_sdk.jpeg import DECODERS, decode_fast

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_PIXELS = 89_478_485  # Pillow's own default bomb limit (~0.25 GiB at 24 bpp); per call below.


@dataclass(frozen=True)
class ImageSpec:
    """How pixels are prepared: resize the shorter side to `resize`, centre-crop `size`.

    `jpeg_draft`: let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale (DCT scaling) when that
    still leaves the shorter side >= `resize`, instead of decoding every pixel and throwing most
    away in the resize. Off by default (training, export, exact parity); the SDK's bundles turn it
    on (seje_sdk.bundle), docs/runtimes.md measures what it changes.
    `jpeg_decoder`: "auto" decodes YCbCr JPEGs with simplejpeg when it is installed (the same
    pixels, faster search from files: seje_sdk.jpeg), "pillow" always with Pillow.
    """

    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    jpeg_draft: bool = False
    jpeg_decoder: str = "auto"

    def __post_init__(self) -> None:
        if self.jpeg_decoder not in DECODERS:
            raise InputError(f"ImageSpec.jpeg_decoder must be one of {DECODERS}, got {self.jpeg_decoder!r}")

    @classmethod
    def for_size(cls, size: int) -> "ImageSpec":
        """The Recipe1M ratio (256 -> 224) applied to any crop size."""
        return cls(size=size, resize=int(round(size * 256 / 224)))


def _describe(src: Any) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    return type(src).__name__


def load_image(src: ImageInput, where: str = "image", max_pixels: int = MAX_PIXELS,
               min_side: int | None = None, decoder: str = "auto") -> Image.Image:
    """Decode a path, encoded bytes, PIL image or uint8 array into an RGB PIL image.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit inputs are converted;
    corrupt, truncated, empty or oversized (decompression-bomb) inputs raise InputError.
    `min_side`: a JPEG may be decoded at a reduced scale whose shorter side is still >= min_side.
    `decoder`: "auto" lets simplejpeg decode YCbCr JPEGs when installed (same pixels), "pillow" never.
    """
    label = f"{where} ({_describe(src)})"
    if isinstance(src, np.ndarray):
        return _from_array(src, label)
    if isinstance(src, Image.Image):
        img = src
    else:
        if isinstance(src, (bytes, bytearray)):
            if len(src) == 0:
                raise InputError(f"{label}: zero-byte image")
            fp: Any = io.BytesIO(src)
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.is_file():
                raise InputError(f"{label}: no such file")
            if path.stat().st_size == 0:
                raise InputError(f"{label}: zero-byte file")
            fp = path
        else:
            raise InputError(f"{label}: unsupported image type; pass a path, bytes, PIL image or uint8 array")
        try:
            img = _decode(Image.open(fp), src, label, max_pixels, min_side, decoder)
        except InputError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise InputError(f"{label}: cannot decode image ({e})") from e
    return _to_rgb(img, label)


def _decode(img: Image.Image, src: Any, label: str, max_pixels: int, min_side: int | None, decoder: str) -> Image.Image:
    """Check the opened image's size, then decode it: simplejpeg when allowed and able, else Pillow."""
    if img.width * img.height > max_pixels:
        raise InputError(
            f"{label}: {img.width}x{img.height} exceeds the {max_pixels}-pixel limit "
            "(decompression-bomb guard); downscale it first"
        )
    fast = decode_fast(img, lambda: _read(src), min_side) if decoder == "auto" else None
    if fast is not None:
        img.close()
        return fast
    if min_side is not None:
        _draft(img, min_side)
    img.load()
    return img


def _read(src: Any) -> bytes | bytearray:
    return src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()


def _draft(img: Image.Image, min_side: int) -> None:
    """Ask a JPEG decoder for the smallest DCT scale (1, 1/2, 1/4, 1/8) keeping the shorter side >= min_side."""
    if img.format != "JPEG" or min(img.size) <= min_side:
        return
    scale = min_side / min(img.size)
    # Pillow picks the largest reduction whose result is at least the requested size on both axes.
    img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _from_array(arr: np.ndarray, label: str) -> Image.Image:
    if arr.size == 0:
        raise InputError(f"{label}: empty array")
    if arr.dtype != np.uint8:
        raise InputError(f"{label}: expected a uint8 array, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"{label}: expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return _to_rgb(Image.fromarray(np.ascontiguousarray(arr)), label)


def _to_rgb(img: Image.Image, label: str) -> Image.Image:
    try:
        if img.info or img.format:  # an image without metadata (from an array, say) has no orientation
            img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not make a good image unusable
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        arr = arr / (hi if hi > 0 else 1.0) * 255.0
        img = Image.fromarray(arr.round().astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.width < 1 or img.height < 1:
        raise InputError(f"{label}: image has no pixels")
    return img


def resize_crop(img: Image.Image, spec: ImageSpec) -> Image.Image:
    """Resize the shorter side to spec.resize (bilinear), then centre-crop spec.size.

    With `spec.jpeg_draft` (the SDK's query path) in one step: Pillow resamples only the crop's
    source region (`box`, in source pixels), the pixels of resizing and cropping to rounding
    (Pillow passes the box as float32: at most 2 of 255), at the cost of the crop's pixels alone.
    Without it (training, export, exact parity) the whole image is resized, then cropped, exactly
    as every run before the one-step path was trained.
    """
    w, h = img.size
    scale = spec.resize / min(w, h)
    nw, nh = max(spec.size, round(w * scale)), max(spec.size, round(h * scale))
    left, top = (nw - spec.size) // 2, (nh - spec.size) // 2
    if not spec.jpeg_draft:
        return img.resize((nw, nh), Image.BILINEAR).crop((left, top, left + spec.size, top + spec.size))
    sx, sy = w / nw, h / nh
    box = (left * sx, top * sy, (left + spec.size) * sx, (top + spec.size) * sy)
    return img.resize((spec.size, spec.size), Image.BILINEAR, box=box)


def load_pixels(src: ImageInput, spec: ImageSpec, where: str = "image") -> np.ndarray:
    """Decode + resize + crop to a uint8 (size, size, 3) array; `stack_pixels` makes a batch of them."""
    img = load_image(src, where, min_side=spec.resize if spec.jpeg_draft else None, decoder=spec.jpeg_decoder)
    return np.asarray(resize_crop(img, spec))


def stack_pixels(arrays: list[np.ndarray]) -> np.ndarray:
    """(size, size, 3) uint8 arrays -> the image graph's (n, 3, size, size) float32 input, in one pass."""
    return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2), dtype=np.float32)


def preprocess(src: ImageInput, spec: ImageSpec, where: str = "image") -> np.ndarray:
    """Decode + resize + crop to a float32 (3, size, size) array of raw 0..255 pixel values."""
    return stack_pixels([load_pixels(src, spec, where)])[0]
