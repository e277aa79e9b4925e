"""JPEG decoding through simplejpeg (libjpeg-turbo's TurboJPEG API), an optional wheel.

Pillow also decodes JPEGs with libjpeg-turbo, fed from Python in chunks; simplejpeg decodes the
whole buffer in one call with the same accurate IDCT and fancy upsampling, so the pixels are
Pillow's (tests/test_jpeg.py checks it), also at a reduced DCT scale (Pillow's draft mode). Search
from files gained 3-14 points of throughput with it (docs/runtimes.md, section 2). Used for YCbCr
JPEGs only; everything else, and any JPEG simplejpeg refuses, goes through Pillow.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
from PIL import Image

DECODERS = ("auto", "pillow")  # ImageSpec.jpeg_decoder: "auto" = simplejpeg when installed


@functools.lru_cache(maxsize=1)
def simplejpeg_module() -> Any:
    """The simplejpeg module, or None when it is not installed (imported once, on first use)."""
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


def draft_scale(width: int, height: int, min_side: int) -> int:
    """The DCT scale divisor (1, 2, 4 or 8) Pillow's draft picks when asked for a shorter side >= min_side."""
    if min(width, height) <= min_side:
        return 1
    ratio = min_side / min(width, height)
    # Pillow's JpegImageFile.draft: the largest power of 2 not above min(w // request_w, h // request_h).
    fits = min(width // math.ceil(width * ratio), height // math.ceil(height * ratio))
    return next(s for s in (8, 4, 2, 1) if fits >= s)


def decode_fast(header: Image.Image, read: Callable[[], bytes], min_side: int | None) -> Image.Image | None:
    """Decode the JPEG whose header Pillow opened as `header` with simplejpeg, at Pillow's draft scale for min_side.

    Returns None when simplejpeg is missing, the image is not a YCbCr JPEG, or simplejpeg
    refuses the data (corrupt, truncated, unusual): the caller then decodes with Pillow, whose
    behaviour and error messages stay the reference. EXIF/XMP metadata is carried over, so the
    caller's orientation handling applies unchanged.
    """
    sj = simplejpeg_module()
    if sj is None or header.format != "JPEG" or header.mode != "RGB":
        return None
    scale = draft_scale(header.width, header.height, min_side) if min_side else 1
    want = (math.ceil(header.height / scale), math.ceil(header.width / scale))
    try:
        arr = sj.decode_jpeg(read(), "RGB", min_height=want[0], min_width=want[1])
    except (ValueError, OSError):
        return None
    if arr.shape[:2] != want:  # another scale than Pillow's would change the pixels: let Pillow decode
        return None
    img = Image.fromarray(np.ascontiguousarray(arr))
    img.info.update({k: v for k, v in header.info.items() if k in ("exif", "xmp", "XML:com.adobe.xmp")})
    return img
