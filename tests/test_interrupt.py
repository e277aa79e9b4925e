"""Interrupted work leaves nothing half-written: real commands in a subprocess, killed with SIGKILL.

`seje index build` and `seje-export` killed midway leave the previous complete output (or none);
`seje-train fit` killed midway resumes to the same weights as the uninterrupted run, bit for bit.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch
from test_sdk_support import RECIPES, sdk_bundle, sdk_images  # noqa: F401  (session fixtures)

from seje_sdk.bundle import Bundle

ROOT = Path(__file__).resolve().parents[1]
SEJE = "import sys; from seje_sdk.cli import main; sys.argv[0] = 'seje'; main()"


def kill_when(args: list[str], log: Path, moment: Callable[[], bool], timeout: float = 300, required: bool = True) -> bool:
    """Run `python args` (stderr to `log`) and SIGKILL it as soon as `moment()` holds.

    Returns whether it was killed; a run that ends before the moment fails the test when `required`.
    """
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + timeout
        while proc.poll() is None and time.time() < deadline:
            if moment():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        else:
            if proc.poll() is None:
                proc.kill()
            if required or proc.wait() != 0:
                pytest.fail(f"{args[:3]} ended (rc {proc.wait()}) before the moment to kill it:\n{log.read_text()[-2000:]}")
            return False
    assert proc.wait() == -signal.SIGKILL
    return True


def temp_siblings(path: Path) -> list[Path]:
    """The hidden temporary folders seje_sdk.io.atomic_dir writes `path` into."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_index_build_killed_midway_keeps_the_previous_index(sdk_bundle, sdk_images, tmp_path):
    out = tmp_path / "idx"
    (tmp_path / "few.json").write_text(json.dumps(RECIPES))
    many = [{**RECIPES[i % 3], "id": f"r{i}"} for i in range(3000)]
    (tmp_path / "many.jsonl").write_text("\n".join(json.dumps(r) for r in many))
    build = ["-c", SEJE, "index", "build", str(sdk_bundle), "--images", str(sdk_images[0].parent), "--out", str(out)]
    # No previous index: killed while embedding, nothing appears.
    log = tmp_path / "log"
    kill_when([*build, "--recipes", str(tmp_path / "many.jsonl")], log, lambda: "embed" in log.read_text())
    assert not out.exists()
    # A previous complete index: killed while embedding, and killed while writing, it stays as it was.
    res = subprocess.run([sys.executable, "-c", SEJE, "index", "build", str(sdk_bundle), "--recipes",
                          str(tmp_path / "few.json"), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    before = snapshot(out)
    kill_when([*build, "--recipes", str(tmp_path / "many.jsonl")], log, lambda: "embed" in log.read_text())
    assert snapshot(out) == before
    from seje_sdk import Retriever

    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.load_index(out)
    assert r.info()["index"] == {"recipe": 3, "image": 0}
    # Killed while writing, if the kill lands in that short window: the previous index, else the new one, whole.
    killed = kill_when([*build, "--recipes", str(tmp_path / "many.jsonl")], log, lambda: bool(temp_siblings(out)),
                       required=False)
    r = Retriever.load(sdk_bundle, backend="onnxruntime")
    r.load_index(out)
    assert r.info()["index"] == ({"recipe": 3, "image": 0} if snapshot(out) == before
                                 else {"recipe": 3000, "image": len(sdk_images)})
    assert killed or r.info()["index"]["recipe"] == 3000


def test_export_killed_midway_keeps_the_previous_bundle(tiny_run, tiny_bundle, tmp_path):
    out = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    before = snapshot(out)
    log = tmp_path / "log"
    # Killed once the first graph is written into the temporary folder: the old bundle stays, verified.
    kill_when(["-m", "export.cli", str(tiny_run), "--out", str(out), "--engine", "none"], log,
              lambda: any(p.glob("*.onnx") for p in temp_siblings(out)))
    assert snapshot(out) == before
    Bundle.load(out)  # every sha256 and the fingerprint still match
    fresh = tmp_path / "fresh"
    kill_when(["-m", "export.cli", str(tiny_run), "--out", str(fresh), "--engine", "none"], log,
              lambda: any(p.glob("*.onnx") for p in temp_siblings(fresh)))
    assert not fresh.exists()


def test_fit_killed_midway_resumes_to_the_same_weights(tiny_run, tiny_data, tiny_features, tmp_path):
    """SIGKILL during epoch 2 of the tiny preset, `--resume`, compare with the uninterrupted tiny run."""
    out = tmp_path / "run"
    shutil.copytree(tiny_run / "cache", out / "cache")  # frozen-backbone features: same key, reused
    last = out / "checkpoints" / "last.pt"
    log = tmp_path / "log"
    fit = ["-m", "trainer.cli", "fit", "--data", str(tiny_data), "--features", str(tiny_features), "--out", str(out),
           "--preset", "tiny"]
    kill_when(fit, log, lambda: last.is_file() and "epoch 2/" in log.read_text())
    saved = torch.load(last, weights_only=True)
    assert 1 <= saved["schedule"]["epoch"] < 8  # killed between the first and the last epoch
    # Resumed and reference runs are fresh processes like the killed one, so that nothing the test
    # session changed in this process (torch's thread count, say) decides the floating-point sums.
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run([sys.executable, *fit, "--resume"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    ref = tmp_path / "ref"
    shutil.copytree(tiny_run / "cache", ref / "cache")
    ref_fit = [*fit[:fit.index("--out") + 1], str(ref), *fit[fit.index("--out") + 2:]]
    subprocess.run([sys.executable, *ref_fit], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    a = torch.load(ref / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert a["schedule"] == b["schedule"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert all(torch.equal(v, b["critic"][k]) for k, v in a["critic"].items())
    assert (ref / "metrics.jsonl").read_text() == (out / "metrics.jsonl").read_text()


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    from seje_sdk import io

    out = tmp_path / "out"
    code = ("import os, signal, sys; from seje_sdk.io import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'part.npy').write_bytes(b'x' * 1000)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    res = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == -signal.SIGKILL and not out.exists()
    (stale,) = temp_siblings(out)
    live = tmp_path / f".other.{io._HOST}-{os.getpid()}.abc.tmp"  # a live writer's temporary is kept
    live.mkdir()
    io._swept.discard(tmp_path)
    with io.atomic_dir(out) as tmp:
        (tmp / "done").write_text("ok")
    assert not stale.exists() and live.exists() and (out / "done").read_text() == "ok"
    assert temp_siblings(out) == []
