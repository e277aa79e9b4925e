"""Regenerate the GPU API name lists in this folder from the real wheels (tests/test_tensorrt.py reads them).

Needs network access (pip download), gcc and Python 3.11; installs nothing:

    python tests/data/gpu_api/extract_names.py

tensorrt-<version>.txt: NVIDIA's `tensorrt-cu12-bindings` wheel holds only the compiled
pybind11 module, which links against libnvinfer / libnvonnxparser / libnvinfer_plugin. We
compile no-op stand-ins for the nine C entry points it imports, so the module loads without a
GPU, and list every public module attribute and every public attribute of each class
(methods, properties, enum members) as dotted names, one per line.
tensorrt-<version>.signatures.txt: "Class.method param param ..." per overload, read from the
first line of each method's pybind11 docstring (keyword arguments we pass are checked against it).
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
# Runs in a child interpreter: argv = [folder to put first on sys.path, module to import, "names" | "signatures"].
LISTER = r"""
import importlib, re, sys
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module(sys.argv[2])
names, signatures = set(), set()
for name in dir(mod):
    if name.startswith("_") and name != "__version__":
        continue
    names.add(name)
    obj = getattr(mod, name)
    if not isinstance(obj, type):
        continue
    for attr in dir(obj):
        if attr.startswith("_"):
            continue
        names.add(f"{name}.{attr}")
        for line in (getattr(getattr(obj, attr, None), "__doc__", None) or "").splitlines():
            sig = re.match(rf"^(?:\d+\. )?{re.escape(attr)}\((.*)\)", line.strip())
            if sig:
                params = [p.split(":")[0].strip().lstrip("*") for p in re.split(r",\s*(?![^\[]*\])", sig.group(1))]
                signatures.add(" ".join([f"{name}.{attr}", *[p for p in params if p and p not in ("self", "/")]]))
print("\n".join(sorted(signatures if sys.argv[3] == "signatures" else names)))
"""


def _download(spec: str, work: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
                    "--platform", "manylinux_2_28_x86_64", "-d", str(work), spec], check=True, stdout=subprocess.DEVNULL)
    name, version = spec.split("==")
    wheel = next(work.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    unpacked = work / wheel.stem
    zipfile.ZipFile(wheel).extractall(unpacked)
    return unpacked


def _list(path_entry: Path, module: str, env: dict[str, str], what: str = "names") -> list[str]:
    out = subprocess.run([sys.executable, "-c", LISTER, str(path_entry), module, what], check=True, capture_output=True,
                         text=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env})
    return out.stdout.splitlines()


def tensorrt_names(version: str, work: Path, what: str = "names") -> list[str]:
    """List the Python API (names, or method signatures) of tensorrt-cu12-bindings==`version` (against stub libraries)."""
    unpacked = _download(f"tensorrt-cu12-bindings=={version}", work)
    major = version.split(".")[0]
    stubs = work / f"stubs{major}"
    stubs.mkdir(exist_ok=True)
    (stubs / "stub.c").write_text(STUB_C)
    for lib in LIBRARIES:
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(stubs / f"{lib}.so.{major}"),
                        f"-Wl,-soname,{lib}.so.{major}", str(stubs / "stub.c")], check=True)
    return _list(unpacked, "tensorrt_bindings", {"LD_LIBRARY_PATH": str(stubs)}, what)


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
                if kind == "tensorrt":
                    signatures = _list(work / next(p.name for p in work.iterdir() if p.is_dir() and p.name.startswith("tensorrt_cu12")),
                                       "tensorrt_bindings", {"LD_LIBRARY_PATH": str(work / f"stubs{version.split('.')[0]}")},
                                       "signatures")
                    (HERE / f"{kind}-{version}.signatures.txt").write_text("\n".join(signatures) + "\n")
                    print(f"{kind}-{version}.signatures.txt: {len(signatures)} signatures")


if __name__ == "__main__":
    main()
