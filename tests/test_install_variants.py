"""Every documented install variant works (issue 22): a fresh venv per variant, installed offline.

The checkout is built into a wheel once; its dependencies come from a local wheel cache
(~/.cache/seje-variant-wheels, or $SEJE_VARIANT_WHEELS), filled from the package index the
first time only (the versions of this test's own environment, so every run installs the same
bytes) and then reused with `pip install --no-index`. Each venv gets `seje[<variant>]` and
nothing else; every console script must answer --help (and each subcommand's --help), real
bundle-only commands must work, and commands that need an absent extra must say which in one
line with exit code 2. The full CI set is this test's own environment with the checkout
first on the path (building a second 5 GB torch venv would prove nothing more).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from test_sdk_support import RECIPES, make_images, sdk_bundle  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS: dict[str, str] = PYPROJECT["project"]["scripts"]  # name -> "module:function"
WHEELS = Path(os.environ.get("SEJE_VARIANT_WHEELS") or Path.home() / ".cache" / "seje-variant-wheels")
VARIANTS = ("cpu", "cpu,serve", "cpu,corpus")
CACHED = "cpu,serve,corpus,bench"  # what the wheel cache holds (bench: the same cache serves a manual check)

pytestmark = [pytest.mark.variants, pytest.mark.timeout(1200)]


def clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: a checkout on the path would count as seje already installed."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def pip(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout, env=clean_env())


@pytest.fixture(scope="module")
def seje_wheel(tmp_path_factory) -> Path:
    """The checkout as a wheel, built from a copy (setuptools leaves build/ beside its sources)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("seje_sdk", "trainer", "export", "benchmarks"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    res = pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src))
    assert res.returncode == 0, res.stderr[-3000:]
    return next(out.glob("seje-*.whl"))


@pytest.fixture(scope="module")
def wheel_cache(seje_wheel) -> Path:
    """A folder holding every dependency of the variants; downloaded once, then offline."""
    offline = ["--no-index", "--find-links", str(WHEELS), "--find-links", str(seje_wheel.parent)]
    check = ["install", "--dry-run", "--ignore-installed", "-q", *offline, f"seje[{CACHED}]"]
    if WHEELS.is_dir() and pip(*check).returncode == 0:
        return WHEELS
    WHEELS.mkdir(parents=True, exist_ok=True)
    frozen = pip("freeze", "--exclude", "seje").stdout  # this environment's versions: same bytes every time
    pins = WHEELS / "constraints.txt"
    pins.write_text("\n".join(line for line in frozen.splitlines() if "==" in line) + "\n")
    res = pip("download", "-q", "--only-binary=:all:", "-c", str(pins), "-d", str(WHEELS), f"{seje_wheel}[{CACHED}]")
    for stray in WHEELS.glob("seje-*.whl"):  # the checkout's wheel is built fresh each run, never cached
        stray.unlink()
    if res.returncode != 0 or pip(*check).returncode != 0:
        pytest.skip(f"no complete wheel cache in {WHEELS} and the package index is unreachable: {res.stderr[-300:]}")
    return WHEELS


def make_venv(folder: Path, variant: str, seje_wheel: Path, wheel_cache: Path) -> dict:
    """A fresh venv with seje[variant] installed offline; returns its bin folder, seconds and size."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    res = pip("--python", str(folder / "bin" / "python"), "install", "-q", "--no-index", "--find-links", str(wheel_cache),
              "--find-links", str(seje_wheel.parent), f"seje[{variant}]")
    assert res.returncode == 0, f"seje[{variant}] does not install offline:\n{res.stderr[-3000:]}"
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return {"bin": folder / "bin", "install_s": round(seconds, 1), "size_mib": round(size / 2**20)}


class Scripts:
    """Runs the console scripts of one environment and checks that none prints a traceback."""

    def __init__(self, bin_dir: Path | None, cwd: Path) -> None:
        self.bin_dir, self.cwd = bin_dir, cwd

    def command(self, script: str) -> list[str]:
        if self.bin_dir is not None:
            return [str(self.bin_dir / script)]
        module, function = SCRIPTS[script].split(":")  # the full set: this interpreter, the checkout first
        return [sys.executable, "-c", f"import sys; sys.argv[0] = {script!r}; from {module} import {function}; {function}()"]

    def run(self, script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = clean_env()
        if self.bin_dir is None:
            env["PYTHONPATH"] = str(ROOT)
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", XDG_CACHE_HOME=str(self.cwd / "cache"))
        res = subprocess.run([*self.command(script), *map(str, args)], cwd=self.cwd, env=env, capture_output=True,
                             text=True, timeout=timeout)
        assert "Traceback" not in res.stdout + res.stderr, f"{script} {' '.join(map(str, args))}:\n{res.stderr[-3000:]}"
        return res

    def ok(self, script: str, *args: str) -> str:
        res = self.run(script, *args)
        assert res.returncode == 0, f"{script} {' '.join(map(str, args))} (rc {res.returncode}):\n{res.stderr[-3000:]}"
        return res.stdout

    def refused_for_extra(self, script: str, *args: str) -> str:
        """The one line a command prints when this install lacks its extra (exit code 2)."""
        res = self.run(script, *args)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode == 2 and len(lines) == 1, f"{script} {args} (rc {res.returncode}):\n{res.stderr[-2000:]}"
        assert re.search(r"needs the [\w,-]+ extras?: pip install 'seje\[[\w,-]+\]'", lines[0]), lines[0]
        return lines[0]


def subcommands(help_text: str) -> list[str]:
    """Command names listed under 'Commands:' in click's help."""
    if "Commands:" not in help_text:
        return []
    block = help_text.split("Commands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([\w-]+)", block, re.MULTILINE)]


def check_helps(scripts: Scripts) -> int:
    """--help of every script, every subcommand and every sub-subcommand; returns how many answered."""
    count = 0
    for script in SCRIPTS:
        pending = [[]]
        while pending:
            path = pending.pop()
            text = scripts.ok(script, *path, "--help")
            count += 1
            assert "Usage:" in text
            pending += [[*path, name] for name in subcommands(text)]
    return count


def check_bundle_commands(scripts: Scripts, bundle: Path, work: Path) -> None:
    """What a user of a bundle does: inspect it, index photos, search, time it."""
    images = make_images(work / "photos", n=4)
    (work / "recipe.json").write_text(json.dumps(RECIPES[0]))
    assert "onnxruntime" in scripts.ok("seje", "info", bundle)
    scripts.ok("seje", "index", "build", bundle, "--images", work / "photos", "--out", work / "index")
    hits = json.loads(scripts.ok("seje", "search", bundle, "--index", work / "index", "--recipe", work / "recipe.json",
                                 "-k", "2", "--json"))
    assert len(hits) == 1 and len(hits[0]) == 2 and {Path(h["id"]).name for h in hits[0]} <= {p.name for p in images}
    scripts.ok("seje-bench", "latency", bundle, "--quick", "--no-e2e", "--batch-sizes", "1", "--out", work / "bench")
    rows = json.loads((work / "bench" / "latency.json").read_text())["rows"]
    assert any(r["backend"].startswith("onnxruntime") and r["status"] == "ok" for r in rows)
    assert all(r["status"] == "skipped" and r["reason"] for r in rows if r["backend"].startswith("pytorch"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fresh_variant_venv(variant, seje_wheel, wheel_cache, sdk_bundle, tmp_path):
    venv = make_venv(tmp_path / "venv", variant, seje_wheel, wheel_cache)
    scripts = Scripts(venv["bin"], tmp_path)
    helps = check_helps(scripts)
    check_bundle_commands(scripts, sdk_bundle, tmp_path)
    # Commands whose extra this variant lacks say which to add, in one line.
    scripts.refused_for_extra("seje-train", "fit", "--data", tmp_path, "--features", tmp_path, "--out", tmp_path / "run")
    scripts.refused_for_extra("seje-export", tmp_path, "--out", tmp_path / "bundle")
    scripts.refused_for_extra("seje-bench", "retrieval", sdk_bundle, "--data", tmp_path)
    if "serve" not in variant:
        assert "seje[serve]" in scripts.refused_for_extra("seje", "serve", sdk_bundle)
    (tmp_path / "recipes.jsonl").write_text("\n".join(json.dumps(r) for r in RECIPES) + "\n")
    if "corpus" in variant:  # ijson is here: a user's collection imports; the corpus job runs end to end
        photos = make_images(tmp_path / "collection", n=24, seed=5)
        rows = [{"title": f"{dish} number {i}", "ingredients": [f"{i} cups flour", "salt", dish],
                 "instructions": [f"Mix the {dish} for {i} minutes.", "Serve."], "images": [photo.name]}
                for i, (dish, photo) in enumerate(zip(["soup", "cake", "salad"] * 8, photos))]
        (tmp_path / "collection" / "recipes.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        scripts.ok("seje-train", "import", tmp_path / "collection" / "recipes.jsonl", "--out", tmp_path / "imported")
        assert len(json.loads((tmp_path / "imported" / "layer1.json").read_text())) == 24
        scripts.ok("seje", "embed-corpus", sdk_bundle, tmp_path / "recipes.jsonl", "--out", tmp_path / "shards")
        scripts.ok("seje", "index", "build", sdk_bundle, "--from-shards", tmp_path / "shards", "--out", tmp_path / "idx2")
    else:
        assert "seje[corpus]" in scripts.refused_for_extra("seje", "embed-corpus", sdk_bundle, tmp_path, "--out", tmp_path / "s")
        scripts.refused_for_extra("seje-train", "import", tmp_path / "recipes.jsonl", "--out", tmp_path / "imported")
    print(f"\nseje[{variant}]: installed offline in {venv['install_s']} s, {venv['size_mib']} MiB, {helps} --help answered")


def test_full_ci_set(sdk_bundle, tmp_path):
    """Every extra installed (this environment): the same commands, none refused for an extra."""
    scripts = Scripts(None, tmp_path)
    check_helps(scripts)
    check_bundle_commands(scripts, sdk_bundle, tmp_path)


def test_extra_table_matches_pyproject():
    from seje_sdk.extras import EXTRA_MODULES

    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRA_MODULES) <= set(extras)
    for extra, modules in EXTRA_MODULES.items():  # each listed module is importable in the full CI set
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        assert not missing, f"extra {extra}: {missing} not importable here; is EXTRA_MODULES out of date?"
