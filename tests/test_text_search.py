"""Typed-text search: Retriever.search(text=...) and `seje search --text` embed the text as a title-only
recipe with the bundle's vocabulary and report the words outside it."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_sdk_support import (retriever, sdk_bundle, sdk_images, titled_bundle,  # noqa: F401  (session fixtures)
                              titled_retriever)

from seje_sdk.cli import main
from seje_sdk.errors import InputError
from seje_sdk.text import Vocab
from seje_sdk.text_query import text_query


@pytest.fixture(scope="module")
def photo_index(titled_retriever, sdk_images, tmp_path_factory):
    folder = sdk_images[0].parent
    out = tmp_path_factory.mktemp("text_search") / "idx"
    res = CliRunner().invoke(main, ["index", "build", str(titled_retriever.bundle.path), "--images", str(folder),
                                    "--out", str(out), "--backend", "onnxruntime"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    titled_retriever.load_index(out)
    return out


def test_text_query_keeps_the_text_as_title_and_lists_unknown_words():
    q = text_query("  Spicy   tomato pasta, 2 cups!  ", Vocab.build(["tomato", "pasta", "cups"]))
    assert q.recipe == {"title": "Spicy tomato pasta, 2 cups!"}
    assert q.words == ["spicy", "tomato", "pasta", "2", "cups"] and q.unknown_words == ["spicy"]


def test_search_text_equals_a_title_only_recipe(titled_retriever, photo_index):
    got = titled_retriever.search(text=["tomato pasta zzqxv", "red wine"], k=3)
    want = titled_retriever.search(recipes=[{"title": "tomato pasta zzqxv"}, {"title": "red wine"}], k=3)
    assert got.ids.tolist() == want.ids.tolist()
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    assert got.unknown_words == [["zzqxv"], []]
    assert titled_retriever.search(text="red wine", k=3).ids.tolist() == got.ids[1:].tolist()


@pytest.mark.parametrize("text, message", [
    ("", r"text: empty text"), ("zzqxv blorpf", r"text: none of the words"), (5, r"text: pass a string"),
    (["tomato", 5], r"text\[1\]: expected a string, got int"), ("x" * 1001, r"text: 1001 characters"),
])
def test_bad_text_is_an_input_error(titled_retriever, photo_index, text, message):
    with pytest.raises(InputError, match=message):
        titled_retriever.search(text=text, k=2)


def test_text_and_another_query_kind_together_is_refused(titled_retriever, photo_index, sdk_images):
    with pytest.raises(InputError, match="exactly one of images=..., recipes=... or text="):
        titled_retriever.search(text="tomato", images=sdk_images[:1])


def test_a_bundle_that_does_not_read_titles_refuses_text(retriever):
    with pytest.raises(InputError, match="does not read titles"):
        retriever.search(text="tomato pasta", k=2)


def test_cli_search_text_table_and_json(titled_retriever, photo_index):
    args = ["search", str(titled_retriever.bundle.path), "--index", str(photo_index), "--text", "tomato pasta zzqxv",
            "-k", "2", "--backend", "onnxruntime"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "not in the model's vocabulary (no effect on the search): zzqxv" in res.output
    want = titled_retriever.search(text="tomato pasta zzqxv", k=2)[0]
    assert all(str(i) in res.output for i, _ in want)
    res = CliRunner().invoke(main, args + ["--json"], catch_exceptions=False)
    out = json.loads(res.output)
    assert out["text"] == "tomato pasta zzqxv" and out["unknown_words"] == ["zzqxv"]
    assert [h["id"] for h in out["hits"]] == [i for i, _ in want]


def test_cli_text_with_image_is_a_usage_error(titled_retriever, photo_index, sdk_images):
    res = CliRunner().invoke(main, ["search", str(titled_retriever.bundle.path), "--index", str(photo_index),
                                    "--text", "tomato", "--image", str(sdk_images[0])])
    assert res.exit_code == 2 and "exactly one of --image FILE, --recipe FILE.json or --text" in res.output
