"""The fast JPEG path (simplejpeg at Pillow's draft scale, one-step resize + crop, uint8 batching).

Real JPEG files, real decoders and the real tiny bundle on ONNX Runtime; the "previous path" is the
preprocessing before (Pillow decode, resize then crop, float per image: benchmarks.image_steps).
"""
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.image_steps import previous_pixels
from seje_sdk.errors import InputError
from seje_sdk.image import ImageSpec, load_image, load_pixels, preprocess, resize_crop, stack_pixels
from seje_sdk.jpeg import draft_scale, simplejpeg_module

needs_simplejpeg = pytest.mark.skipif(simplejpeg_module() is None, reason="simplejpeg is not installed")


def _jpeg(width: int, height: int, seed: int = 0, **save: object) -> bytes:
    """A photo-like JPEG: colour gradients plus grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([128 + 100 * np.sin(x / 53.0 + seed), 128 + 100 * np.cos(y / 41.0), (x + y) % 256], -1)
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr + rng.normal(0, 8, arr.shape), 0, 255).astype(np.uint8)).save(buf, "JPEG", **{"quality": 90, **save})
    return buf.getvalue()


SHAPES = [(1024, 768), (601, 299), (333, 777), (160, 150), (146, 146), (97, 60)]


@needs_simplejpeg
@pytest.mark.parametrize("save", [{}, {"progressive": True}, {"subsampling": 0}, {"subsampling": 1}], ids=str)
def test_simplejpeg_gives_pillows_pixels_at_every_draft_scale(save):
    for i, (w, h) in enumerate(SHAPES):
        data = _jpeg(w, h, seed=i, **save)
        for min_side in (None, 146, 73, 30):
            fast = load_image(data, min_side=min_side)
            slow = load_image(data, min_side=min_side, decoder="pillow")
            assert fast.size == slow.size, (w, h, min_side)
            assert np.array_equal(np.asarray(fast), np.asarray(slow)), (w, h, min_side, save)


def test_draft_scale_is_pillows_choice():
    for w, h in SHAPES + [(181, 300), (1201, 401), (4000, 3000), (292, 293)]:
        for min_side in (146, 64, 30):
            img = Image.open(io.BytesIO(_jpeg(w, h)))
            img.draft("RGB", (-(-w * min_side // min(w, h)), -(-h * min_side // min(w, h))))
            s = draft_scale(w, h, min_side)
            want = img.size if min(w, h) > min_side else (w, h)
            assert ((w + s - 1) // s, (h + s - 1) // s) == want, (w, h, min_side)
            assert min(want) >= min(min_side, w, h)


@needs_simplejpeg
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_on_the_fast_path(orientation):
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8))
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    fast, slow = load_image(buf.getvalue(), min_side=100), load_image(buf.getvalue(), min_side=100, decoder="pillow")
    assert fast.size == slow.size == ((150, 250) if orientation in (6, 8) else (250, 150))
    assert np.array_equal(np.asarray(fast), np.asarray(slow))


def test_broken_jpegs_raise_the_same_input_error_with_either_decoder(tmp_path):
    data = _jpeg(400, 300)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    for decoder in ("auto", "pillow"):
        with pytest.raises(InputError, match="cut.jpg.*cannot decode image"):
            load_pixels(cut, replace(ImageSpec.for_size(64), jpeg_decoder=decoder))
        with pytest.raises(InputError, match="decompression-bomb"):
            load_image(data, max_pixels=1000, decoder=decoder)
    with pytest.raises(InputError, match="jpeg_decoder must be one of"):
        ImageSpec(jpeg_decoder="turbo")


def test_one_step_resize_crop_matches_resize_then_crop_to_rounding():
    exact = ImageSpec.for_size(128)
    fast = replace(exact, jpeg_draft=True)  # the query path resizes in one step
    for i, (w, h) in enumerate(SHAPES + [(1000, 800)]):
        img = load_image(_jpeg(w, h, seed=i))
        new = np.asarray(resize_crop(img, fast), dtype=np.float32).transpose(2, 0, 1)
        old = previous_pixels(_jpeg(w, h, seed=i), exact)
        assert new.shape == old.shape == (3, 128, 128)
        assert np.abs(new - old).max() <= 2 and np.abs(new - old).mean() < 0.05, (w, h)
        # training and export (no draft) keep resize-then-crop exactly
        assert np.array_equal(np.asarray(resize_crop(img, exact), dtype=np.float32).transpose(2, 0, 1), old)


def test_uint8_pixels_batch_into_the_float_input():
    spec = ImageSpec.for_size(64)
    files = [_jpeg(300, 200, seed=s) for s in range(3)]
    batch = stack_pixels([load_pixels(f, spec) for f in files])
    assert batch.dtype == np.float32 and batch.shape == (3, 3, 64, 64) and batch.flags.c_contiguous
    assert np.array_equal(batch, np.stack([preprocess(f, spec) for f in files]))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def jpeg_files(tmp_path_factory) -> list[Path]:
    """Camera-sized (draft applies) and small (no reduction) JPEG files."""
    folder = tmp_path_factory.mktemp("jpegs")
    paths = []
    for i, (w, h) in enumerate([(640, 480), (480, 640), (1024, 768), (160, 150), (300, 200), (800, 300)]):
        paths.append(folder / f"p{i}.jpg")
        paths[-1].write_bytes(_jpeg(w, h, seed=i))
    return paths


@pytest.mark.parametrize("draft", [True, False], ids=["draft", "exact"])
def test_embeddings_agree_with_the_previous_path(tiny_bundle, jpeg_files, draft):
    from seje_sdk import Retriever

    r = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32")
    r.image_spec = replace(r.image_spec, jpeg_draft=draft)
    new = r.embed_images(jpeg_files)
    previous = r.embed_pixels(np.stack([previous_pixels(f, r.image_spec) for f in jpeg_files]))
    assert _cosines(new, previous).min() >= 0.999
    r.image_spec = replace(r.image_spec, jpeg_decoder="pillow")
    assert _cosines(r.embed_images(jpeg_files), new).min() >= 0.9999  # same pixels from either decoder


def test_without_simplejpeg_pillow_decodes_and_embeds_the_same(tiny_bundle, jpeg_files, tmp_path):
    """A fresh interpreter where `import simplejpeg` fails (as when the wheel is absent) embeds with Pillow."""
    from seje_sdk import Retriever

    probe = (
        "import sys, json, numpy as np; sys.modules['simplejpeg'] = None\n"
        "from seje_sdk import Retriever\nfrom seje_sdk.jpeg import simplejpeg_module\n"
        f"r = Retriever.load({str(tiny_bundle)!r}, backend='onnxruntime', precision='fp32')\n"
        f"np.save({str(tmp_path / 'v.npy')!r}, r.embed_images({[str(p) for p in jpeg_files]!r}))\n"
        "print(json.dumps({'simplejpeg': simplejpeg_module() is not None}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"simplejpeg": False}
    here = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32").embed_images(jpeg_files)
    assert _cosines(np.load(tmp_path / "v.npy"), here).min() >= 0.9999


def test_cpu_sessions_block_instead_of_spinning_unless_asked(tiny_bundle, monkeypatch):
    from seje_sdk.backends.onnxruntime import SPIN_ENV, SPIN_OPTION, OrtSession

    path = Path(tiny_bundle) / "image_encoder.onnx"
    monkeypatch.delenv(SPIN_ENV, raising=False)
    assert OrtSession(path, intra_op_threads=2)._session.get_session_options().get_session_config_entry(SPIN_OPTION) == "0"
    monkeypatch.setenv(SPIN_ENV, "1")
    assert OrtSession(path, intra_op_threads=2)._session.get_session_options().get_session_config_entry(SPIN_OPTION) == "1"
    never = OrtSession(path, intra_op_threads=2, spin=False)  # a session that must never spin keeps blocking
    assert never._session.get_session_options().get_session_config_entry(SPIN_OPTION) == "0"
