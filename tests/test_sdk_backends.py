"""Backend selection: what runs is what is reported; explicit GPU backends that cannot run fail clearly."""
import importlib.util
import warnings

import numpy as np
import pytest
from test_sdk_support import sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk import Retriever
from seje_sdk.backends.onnxruntime import OrtSession, available_providers
from seje_sdk.backends.tensorrt import check_engine_compat
from seje_sdk.errors import BackendError, BundleError

NO_CUDA = "CUDAExecutionProvider" not in available_providers()


@pytest.mark.skipif(not NO_CUDA, reason="this machine's onnxruntime has CUDA")
def test_explicit_cuda_without_cuda_fails_clearly(sdk_bundle):
    with pytest.raises(BackendError, match="onnxruntime-cuda: this onnxruntime build has no CUDAExecutionProvider"):
        Retriever.load(sdk_bundle, backend="onnxruntime-cuda")


def test_explicit_tensorrt_without_engines_fails_clearly(sdk_bundle):
    with pytest.raises(BackendError, match=r"tensorrt: no engines in the bundle \(no NVIDIA GPU at export time\)"):
        Retriever.load(sdk_bundle, backend="tensorrt")


def test_auto_falls_back_to_cpu_and_says_why(sdk_bundle):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on a CPU-only install the fallback is expected: no warning noise
        r = Retriever.load(sdk_bundle, backend="auto")
    info = r.info()
    assert (info["backend"], info["device"]) == ("onnxruntime", "cpu")
    assert all(p == ["CPUExecutionProvider"] for p in info["providers"].values())
    assert any(f.startswith("tensorrt:") for f in info["fallbacks"])


def test_unknown_backend_and_precision(sdk_bundle):
    with pytest.raises(BackendError, match="unknown backend 'openvino'"):
        Retriever.load(sdk_bundle, backend="openvino")
    with pytest.raises(BundleError, match=r"no onnxruntime fp16 variant \(it has \['fp32', 'int8'\]\)"):
        Retriever.load(sdk_bundle, backend="onnxruntime", precision="fp16")


def test_ort_session_reports_its_real_providers(sdk_bundle):
    s = OrtSession(sdk_bundle / "tagger.onnx")
    assert s.providers == ["CPUExecutionProvider"] and s.input_names == ["tokens", "lengths"]
    out = s.run({"tokens": np.array([[3, 4]]), "lengths": np.array([2])})
    assert out["logits"].shape == (1, 2, 2)


def test_unloadable_model_names_the_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(BundleError, match="broken.onnx: onnxruntime cannot load this model"):
        OrtSession(bad)


def test_engine_compatibility_checks():
    check_engine_compat("e.plan", "10.3.0", "8.6", "10.3.0", "8.6")
    with pytest.raises(BackendError, match=r"e\.plan: engine built with TensorRT 10\.3\.0, but TensorRT 10\.5\.0 is installed"):
        check_engine_compat("e.plan", "10.3.0", "8.6", "10.5.0", "8.6")
    with pytest.raises(BackendError, match="built for GPU compute capability 8.6, this GPU is 8.9"):
        check_engine_compat("e.plan", "10.3.0", "8.6", "10.3.0", "8.9")
    with pytest.raises(BackendError, match="does not record the TensorRT version"):
        check_engine_compat("e.plan", None, "8.6", "10.3.0", "8.6")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_session_without_tensorrt_installed(tmp_path):
    from seje_sdk.backends.tensorrt import TrtSession

    with pytest.raises(BackendError, match=r"the `tensorrt` package is not installed \(pip install 'seje\[gpu\]'\)"):
        TrtSession(tmp_path / "x.plan", "10.3.0", "8.6")


@pytest.mark.gpu
def test_tensorrt_bundle_matches_onnxruntime(tiny_bundle, sdk_images):  # pragma: no cover - needs a GPU
    trt = Retriever.load(tiny_bundle, backend="tensorrt", precision="fp32")
    ort = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32")
    assert trt.info()["device"].startswith("cuda")
    cos = (trt.embed_images(sdk_images) * ort.embed_images(sdk_images)).sum(1)
    assert cos.min() >= 0.999
