"""`import seje_sdk` and `from seje_sdk import Retriever` must stay light: no torch, torchvision, transformers, gensim."""
import subprocess
import sys

HEAVY = ("torch", "torchvision", "transformers", "gensim")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_seje_sdk_is_light():
    assert _loaded_after("import seje_sdk") == []


def test_retriever_and_every_sdk_module_load_no_heavy_library():
    code = ("from seje_sdk import Retriever\n"
            "import seje_sdk.bundle, seje_sdk.recipe, seje_sdk.index, seje_sdk.indexes, seje_sdk.index_faiss, seje_sdk.cli, seje_sdk.terms\n"
            "import seje_sdk.backends.onnxruntime, seje_sdk.backends.tensorrt, seje_sdk.retriever")
    assert _loaded_after(code) == []
