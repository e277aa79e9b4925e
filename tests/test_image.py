"""Shared image decoding: every odd input becomes RGB, every broken one a clear InputError."""
import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from seje_sdk.errors import InputError
from seje_sdk.image import ImageSpec, load_image, preprocess


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "LA"])
def test_modes_become_rgb(mode):
    img = Image.new("RGB", (40, 30), (200, 30, 30)).convert(mode)
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (40, 30)


def test_rgba_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(img).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_keeps_contrast():
    arr = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    out = np.asarray(load_image(Image.fromarray(arr)))
    assert out.min() == 0 and out.max() == 255


def test_path_bytes_array_agree(tmp_path):
    img = Image.new("RGB", (50, 70), (10, 120, 200))
    path = tmp_path / "a.jpg"
    data = _jpeg(img)
    path.write_bytes(data)
    spec = ImageSpec.for_size(32)
    a = preprocess(path, spec)
    b = preprocess(data, spec)
    c = preprocess(np.asarray(load_image(data)), spec)
    assert a.shape == (3, 32, 32) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 255


@pytest.mark.parametrize(
    "src, message",
    [
        (b"", "zero-byte"),
        (b"not an image at all", "cannot decode"),
        (np.zeros((0, 3), dtype=np.uint8), "empty"),
        (np.zeros((4, 4, 3), dtype=np.float32), "uint8"),
        (12, "unsupported"),
    ],
)
def test_bad_inputs_raise_input_error(src, message):
    with pytest.raises(InputError, match=message):
        load_image(src, where="images[2]")


def test_truncated_and_missing_files(tmp_path):
    data = _jpeg(Image.new("RGB", (64, 64), (1, 2, 3)))
    path = tmp_path / "trunc.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="trunc.jpg"):
        load_image(path)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.jpg")


def test_decompression_bomb_guard():
    img = Image.new("L", (200, 200))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with pytest.raises(InputError, match="decompression-bomb"):
        load_image(buf.getvalue(), max_pixels=1000)


def _photo_jpeg(width: int, height: int, quality: int = 90) -> bytes:
    """A smooth photo-like JPEG: colour gradients plus mild grain."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([128 + 100 * np.sin(x / 53.0), 128 + 100 * np.cos(y / 41.0), (x + y) % 256], -1)
    arr = np.clip(arr + rng.normal(0, 6, arr.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_jpeg_draft_decodes_fewer_pixels_and_stays_close_to_the_exact_path():
    data = _photo_jpeg(1024, 768)
    spec = ImageSpec.for_size(128)  # resize 146: 768 / 146 = 5.3 -> libjpeg can decode at 1/4 scale
    assert load_image(data).size == (1024, 768)
    assert load_image(data, min_side=spec.resize).size == (256, 192)
    fast = preprocess(data, replace(spec, jpeg_draft=True))
    exact = preprocess(data, spec)
    assert fast.shape == exact.shape == (3, 128, 128)
    a, b = fast.ravel() - fast.mean(), exact.ravel() - exact.mean()
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.99
    assert np.abs(fast - exact).mean() < 4.0  # of 0..255


def test_jpeg_draft_never_goes_below_the_resize_and_ignores_other_formats():
    small = _photo_jpeg(160, 150)  # shorter side barely above 146: no reduction possible
    assert load_image(small, min_side=146).size == (160, 150)
    assert load_image(_photo_jpeg(600, 300), min_side=146).size == (300, 150)  # 1/2, not 1/4 (75 < 146)
    png = io.BytesIO()
    Image.new("RGB", (1000, 800), (10, 20, 30)).save(png, "PNG")
    assert load_image(png.getvalue(), min_side=146).size == (1000, 800)
