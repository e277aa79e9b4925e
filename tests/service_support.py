"""Shared pieces of the service tests: an index of the tiny chain (recipes + test photos) and one loaded Retriever."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seje_sdk.cli import main


def build_index(bundle: Path, data: Path, out: Path) -> Path:
    """`seje index build` over the tiny chain: every recipe and the test photos (writes catalog.jsonl)."""
    res = CliRunner().invoke(main, ["index", "build", str(bundle), "--recipes", str(data / "layer1.json"),
                                    "--images", str(data / "images" / "test"), "--out", str(out), "--backend", "onnxruntime"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def photo_owners(data: Path) -> dict[str, str]:
    """{photo file name: recipe id} from layer2.json."""
    return {img["id"]: row["id"] for row in json.loads((data / "layer2.json").read_text()) for img in row["images"]}


def titles(data: Path) -> dict[str, str]:
    return {r["id"]: r["title"] for r in json.loads((data / "layer1.json").read_text())}


@pytest.fixture(scope="session")
def service_index(tiny_bundle, tiny_data, tmp_path_factory) -> Path:
    return build_index(tiny_bundle, tiny_data, tmp_path_factory.mktemp("service") / "index")


@pytest.fixture(scope="session")
def shared_retriever(tiny_bundle, service_index):
    """One Retriever (bundle + index) that the test servers share, so each server starts in milliseconds."""
    from seje_sdk.retriever import Retriever

    r = Retriever.load(tiny_bundle, backend="onnxruntime")
    r.load_index(service_index)
    yield r
    r.close()


def photos_of(data: Path) -> list[Path]:
    return sorted((data / "images" / "test").rglob("*.jpg"))
