"""Backend selection: what runs is what is reported; explicit GPU backends that cannot run fail clearly."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from test_sdk_support import sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk import Retriever
from seje_sdk.backends.gpu import driver_cuda_version, gpu_extra, install_hint
from seje_sdk.backends.onnxruntime import CudaOptions, OrtSession, available_providers
from seje_sdk.backends.tensorrt import check_engine_compat
from seje_sdk.errors import BackendError, BundleError, InputError

NO_CUDA = "CUDAExecutionProvider" not in available_providers()


@pytest.mark.skipif(not NO_CUDA, reason="this machine's onnxruntime has CUDA")
def test_explicit_cuda_without_cuda_fails_clearly(sdk_bundle):
    with pytest.raises(BackendError, match=r"onnxruntime-cuda: this onnxruntime build has no CUDAExecutionProvider.*seje\[gpu-cu1"):
        Retriever.load(sdk_bundle, backend="onnxruntime-cuda")


def test_explicit_tensorrt_without_engines_fails_clearly(sdk_bundle):
    with pytest.raises(BundleError, match=r"^tensorrt: bundle .*: no tensorrt fp32 variant \(skipped at export: no NVIDIA GPU at export time\)"):
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
    with pytest.raises(BackendError, match="unknown backend 'directml'"):
        Retriever.load(sdk_bundle, backend="directml")
    with pytest.raises(BundleError, match=r"^onnxruntime: bundle .*: no onnxruntime fp16 variant \(it has \['fp32', 'int8'\]\)"):
        Retriever.load(sdk_bundle, backend="onnxruntime", precision="fp16")
    with pytest.raises(InputError, match="unknown index kind 'annoy'"):
        Retriever.load(sdk_bundle, backend="onnxruntime", index="annoy")


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


def test_engine_compatibility_refuses_another_cuda_major():
    check_engine_compat("e.plan", "10.16.1.11", "9.0", "10.16.1.11", "9.0", built_cuda="12.9", have_cuda="12.4")
    with pytest.raises(BackendError, match=r"built for CUDA 12\.9, this install runs CUDA 13\.0; rebuild the engines .*--engine tensorrt"):
        check_engine_compat("e.plan", "10.16.1.11", "9.0", "10.16.1.11", "9.0", built_cuda="12.9", have_cuda="13.0")


@pytest.mark.skipif(driver_cuda_version() is not None, reason="this machine has an NVIDIA driver")
def test_tensorrt_session_without_gpu_says_no_gpu(tmp_path):
    from seje_sdk.backends.tensorrt import TrtSession

    with pytest.raises(BackendError, match=r"^no GPU: no NVIDIA driver found"):
        TrtSession(tmp_path / "x.plan", "10.16.1.11", "9.0")


def test_install_hints_name_the_extra_for_this_machine():
    # The extra follows the driver's CUDA version; without a driver the GPU hint names both.
    assert gpu_extra(12080) == "gpu-cu12" and gpu_extra(13000) == "gpu-cu13" and gpu_extra(None) in ("gpu-cu12", "gpu-cu13")
    if driver_cuda_version() is None:
        assert install_hint(gpu=False) == "pip install 'seje[cpu]'"
        assert "'seje[gpu-cu12]'" in install_hint() and "'seje[gpu-cu13]'" in install_hint()


def test_retriever_without_any_onnxruntime_names_the_extra(tmp_path):
    # A fresh interpreter in which `import onnxruntime` fails as it does when no runtime is installed.
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from seje_sdk import Retriever\n"
            "from seje_sdk.errors import BackendError\n"
            f"try: Retriever.load({str(tmp_path)!r})\n"
            "except BackendError as e: print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "no ONNX Runtime is installed" in out.stdout and "pip install 'seje[cpu]'" in out.stdout, out.stdout + out.stderr


def test_cuda_options_are_checked_and_become_provider_options():
    assert CudaOptions().provider_options() == {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC",
                                                "arena_extend_strategy": "kSameAsRequested"}
    opts = CudaOptions.coerce({"device_id": 1, "gpu_mem_limit": 2 << 30, "cudnn_conv_algo_search": "EXHAUSTIVE"})
    assert opts.provider_options()["gpu_mem_limit"] == str(2 << 30) and opts.provider_options()["device_id"] == "1"
    with pytest.raises(InputError, match="unknown keys \\['gpu_mem'\\]"):
        CudaOptions.coerce({"gpu_mem": 1})
    with pytest.raises(InputError, match="cudnn_conv_algo_search must be one of"):
        CudaOptions(cudnn_conv_algo_search="FAST")


def test_bad_cuda_options_fail_at_load(sdk_bundle):
    with pytest.raises(InputError, match="cuda options: device_id must be an int >= 0"):
        Retriever.load(sdk_bundle, backend="onnxruntime", cuda={"device_id": -1})


def test_int8_on_cuda_is_refused_with_what_to_use_instead(sdk_bundle):
    with pytest.raises(BackendError, match=r"int8 graphs are quantised for the CPU.*precision='fp16'"):
        Retriever.load(sdk_bundle, backend="onnxruntime-cuda", precision="int8")


def test_native_log_is_captured_and_passed_on(capfd):
    from seje_sdk.backends.onnxruntime import _create_capturing_log, _provider_failure

    result, log = _create_capturing_log(lambda: os.write(2, b"[W:onnxruntime] Failed to load libcudnn.so.9\n") and 7)
    assert result == 7 and "libcudnn.so.9" in log
    assert "libcudnn.so.9" in capfd.readouterr().err  # written back: nothing is hidden
    assert "libcudnn.so.9" in _provider_failure(log)


def test_close_releases_sessions_and_can_run_twice(sdk_bundle):
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.close()
    r.close()


@pytest.mark.gpu("tensorrt")
def test_tensorrt_bundle_matches_onnxruntime(tiny_bundle, sdk_images):  # pragma: no cover - needs a GPU
    trt = Retriever.load(tiny_bundle, backend="tensorrt", precision="fp32")
    ort = Retriever.load(tiny_bundle, backend="onnxruntime", precision="fp32")
    assert trt.info()["device"].startswith("cuda")
    cos = (trt.embed_images(sdk_images) * ort.embed_images(sdk_images)).sum(1)
    assert cos.min() >= 0.999
    trt.close()


@pytest.mark.gpu("ort-cuda")
def test_onnxruntime_cuda_runs_on_cuda_with_the_options_given(sdk_bundle, sdk_images):  # pragma: no cover - needs a GPU
    cuda = Retriever.load(sdk_bundle, backend="onnxruntime-cuda", cuda={"cudnn_conv_algo_search": "HEURISTIC"})
    cpu = Retriever.load(sdk_bundle, backend="onnxruntime")
    assert all(p[0] == "CUDAExecutionProvider" for p in cuda.info()["providers"].values())
    cos = (cuda.embed_images(sdk_images) * cpu.embed_images(sdk_images)).sum(1)
    assert cos.min() >= 0.999
