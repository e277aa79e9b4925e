"""Bad input: each case gets a clear error naming the item, or is skipped and reported under on_error="skip"."""
import io

import numpy as np
import pytest
from PIL import Image
from test_sdk_support import RECIPES, retriever, sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk.errors import InputError
from seje_sdk.retriever import EmbedResult


@pytest.fixture(scope="module")
def bad(tmp_path_factory, sdk_images):
    folder = tmp_path_factory.mktemp("bad")
    good = sdk_images[0].read_bytes()
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all" * 20)
    (folder / "notes.txt.jpg").write_text("hello")
    # A 1-bit PNG of 90M pixels: a few KB on disk, ~0.25 GiB decoded -> decompression-bomb guard.
    Image.new("1", (10000, 9000)).save(folder / "huge.png")
    return folder


@pytest.mark.parametrize("name, reason", [("zero.jpg", "zero-byte"), ("truncated.jpg", "cannot decode"),
                                          ("corrupt.jpg", "cannot decode"), ("notes.txt.jpg", "cannot decode"),
                                          ("huge.png", "decompression-bomb guard")])
def test_bad_image_files_name_position_and_path(retriever, sdk_images, bad, name, reason):
    with pytest.raises(InputError, match=rf"images\[2\] \(.*{name}\): .*{reason}"):
        retriever.embed_images([sdk_images[0], sdk_images[1], bad / name])


def test_skip_reports_which_images_were_dropped(retriever, sdk_images, bad):
    items = [sdk_images[0], bad / "zero.jpg", sdk_images[1], b"", bad / "truncated.jpg", sdk_images[2]]
    res = retriever.embed_images(items, batch_size=2, on_error="skip")
    assert isinstance(res, EmbedResult) and res.positions == [0, 2, 5]
    assert [p for p, _ in res.skipped] == [1, 3, 4] and "zero-byte" in res.skipped[1][1]
    np.testing.assert_allclose(res.vectors, retriever.embed_images(sdk_images[:3]), atol=1e-6)


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_unusual_but_valid_images_are_converted(retriever):
    rgb = Image.fromarray(np.kron(np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5, np.ones((10, 10, 1), np.uint8)))
    gray16 = Image.fromarray(np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)
    rgba = rgb.convert("RGBA")
    items = [rgb.convert("L"), rgba, _encoded(rgb.convert("CMYK"), "JPEG"), _encoded(gray16, "PNG"), rgb.convert("P"),
             np.zeros((40, 40), np.uint8)]
    emb = retriever.embed_images(items)
    assert emb.shape == (6, 16) and np.isfinite(emb).all()
    # Opaque RGBA composited on white is the RGB image itself.
    np.testing.assert_allclose(emb[1], retriever.embed_images([rgb])[0], atol=1e-6)


def test_wrong_image_types(retriever):
    with pytest.raises(InputError, match=r"images\[1\] \(ndarray\): expected a uint8 array"):
        retriever.embed_images([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(InputError, match=r"images\[0\] \(int\): unsupported image type"):
        retriever.embed_images([42])
    with pytest.raises(InputError, match=r"images\[0\] \(/no/such.jpg\): no such file"):
        retriever.embed_images(["/no/such.jpg"])


def test_bad_recipes_name_position_and_id(retriever):
    with pytest.raises(InputError, match=r"recipes\[1\] \(id x\): empty recipe"):
        retriever.embed_recipes([RECIPES[0], {"id": "x", "title": "", "ingredients": [], "instructions": []}])
    with pytest.raises(InputError, match=r"recipes\[0\]: none of its words is in the model's vocabulary"):
        retriever.embed_recipes([{"title": "Zzyzx", "ingredients": ["qwerty"], "instructions": ["Frobnicate zorp blorp."]}])
    with pytest.raises(InputError, match=r"recipes\[0\]\.instructions\[0\]: not valid UTF-8"):
        retriever.embed_recipes([{"ingredients": ["flour"], "instructions": [b"Bake \xff\xfe in oven"]}])
    with pytest.raises(InputError, match=r"recipes\[2\]: expected a dict"):
        retriever.embed_recipes([RECIPES[0], RECIPES[1], 3.5])


def test_skip_recipes(retriever):
    items = [RECIPES[0], {"title": "", "ingredients": [], "instructions": []}, RECIPES[2]]
    res = retriever.embed_recipes(items, on_error="skip")
    assert res.positions == [0, 2] and res.skipped[0][0] == 1 and "empty recipe" in res.skipped[0][1]
    np.testing.assert_allclose(res.vectors, retriever.embed_recipes([RECIPES[0], RECIPES[2]]), atol=1e-6)


def test_single_item_instead_of_a_list(retriever, sdk_images):
    with pytest.raises(InputError, match=r"images: pass a list of images \(got one PosixPath\)"):
        retriever.embed_images(sdk_images[0])
    with pytest.raises(InputError, match="got one ndarray"):
        retriever.embed_images(np.zeros((40, 40, 3), np.uint8))
    assert retriever.embed_images(np.zeros((2, 40, 40, 3), np.uint8)).shape == (2, 16)  # a 4-D batch is a list
    with pytest.raises(InputError, match=r"recipes: pass a list of recipes \(got one dict\)"):
        retriever.embed_recipes(RECIPES[0])


def test_bad_options(retriever, sdk_images):
    with pytest.raises(InputError, match="batch_size must be a positive int"):
        retriever.embed_images(sdk_images, batch_size=0)
    with pytest.raises(InputError, match="on_error must be 'raise' or 'skip'"):
        retriever.embed_recipes(RECIPES, on_error="ignore")
    with pytest.raises(InputError, match="exactly one of images"):
        retriever.search(images=sdk_images, recipes=RECIPES)
