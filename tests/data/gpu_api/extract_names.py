"""Regenerate the GPU API name lists in this folder from the real wheels (tests/test_tensorrt.py reads them).

Needs network access (pip download), gcc and Python 3.11; installs nothing:

    python tests/data/gpu_api/extract_names.py

tensorrt-<version>.txt: NVIDIA's `tensorrt-cu12-bindings` wheel holds only the compiled
pybind11 module, which links against libnvinfer / libnvonnxparser / libnvinfer_plugin. We
compile no-op stand-ins for the nine C entry points it imports, so the module loads without a
GPU, and list every public module attribute and every public attribute of each class
(methods, properties, enum members) as dotted names, one per line.
cuda-bindings-<version>.txt: `cuda.bindings.runtime` (cuda-python's runtime API) imports
without a driver; same listing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TENSORRT = ("10.16.1.11", "11.4.0.106")
CUDA_BINDINGS = ("12.9.4", "13.4.4")
# The C symbols the TensorRT bindings import from the TensorRT libraries (nm -D --undefined-only).
STUB_C = """
void *createInferBuilder_INTERNAL(void *a, int b) { return 0; }
void *createInferRefitter_INTERNAL(void *a, void *b, int c) { return 0; }
void *createInferRuntime_INTERNAL(void *a, int b) { return 0; }
void *createNvOnnxParserRefitter_INTERNAL(void *a, void *b, int c) { return 0; }
void *createNvOnnxParser_INTERNAL(void *a, void *b, int c) { return 0; }
void *getBuilderPluginRegistry(int a) { return 0; }
int getNvOnnxParserVersion(void) { return 0; }
void *getPluginRegistry(void) { return 0; }
int initLibNvInferPlugins(void *a, const char *b) { return 1; }
"""
LIBRARIES = ("libnvinfer", "libnvinfer_plugin", "libnvonnxparser")
# Runs in a child interpreter: argv = [folder to put first on sys.path, module to import].
LISTER = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module(sys.argv[2])
names = set()
for name in dir(mod):
    if name.startswith("_") and name != "__version__":
        continue
    names.add(name)
    obj = getattr(mod, name)
    if isinstance(obj, type):
        names.update(f"{name}.{attr}" for attr in dir(obj) if not attr.startswith("_"))
print("\\n".join(sorted(names)))
"""


def _download(spec: str, work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
                    "--platform", "manylinux_2_28_x86_64", "-d", str(work), spec], check=True, stdout=subprocess.DEVNULL)
    name, version = spec.split("==")
    wheel = next(work.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    unpacked = work / wheel.stem
    zipfile.ZipFile(wheel).extractall(unpacked)
    return unpacked


def _list(path_entry: Path, module: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", LISTER, str(path_entry), module], check=True, capture_output=True,
                         text=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env})
    return out.stdout.split()


def tensorrt_names(version: str, work: Path) -> list[str]:
    """List the Python API of tensorrt-cu12-bindings==`version` (loaded against stub libraries)."""
    unpacked = _download(f"tensorrt-cu12-bindings=={version}", work)
    major = version.split(".")[0]
    stubs = work / f"stubs{major}"
    stubs.mkdir(exist_ok=True)
    (stubs / "stub.c").write_text(STUB_C)
    for lib in LIBRARIES:
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(stubs / f"{lib}.so.{major}"),
                        f"-Wl,-soname,{lib}.so.{major}", str(stubs / "stub.c")], check=True)
    return _list(unpacked, "tensorrt_bindings", {"LD_LIBRARY_PATH": str(stubs)})


def cuda_bindings_names(version: str, work: Path) -> list[str]:
    """List cuda.bindings.runtime of cuda-bindings==`version` (plus cuda-pathfinder, which it imports)."""
    unpacked = _download(f"cuda-bindings=={version}", work)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(work), "cuda-pathfinder"],
                   check=True, stdout=subprocess.DEVNULL)
    for wheel in work.glob("cuda_pathfinder-*.whl"):
        zipfile.ZipFile(wheel).extractall(unpacked)
    return _list(unpacked, "cuda.bindings.runtime", {})


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for kind, versions, lister in (("tensorrt", TENSORRT, tensorrt_names),
                                       ("cuda-bindings", CUDA_BINDINGS, cuda_bindings_names)):
            for version in versions:
                work = Path(tmp) / f"{kind}-{version}"
                work.mkdir()
                names = lister(version, work)
                target = HERE / f"{kind}-{version}.txt"
                target.write_text("\n".join(names) + "\n")
                print(f"{target.name}: {len(names)} names")


if __name__ == "__main__":
    main()
