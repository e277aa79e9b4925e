"""scripts/gpu-wheels.sh: the wheels gpu-check.sh needs on the GPU machine, fetched once, small, and resolvable
there offline for CPython 3.12 (checked here with pip's --python-version, no index, the folder as the only source)."""
from __future__ import annotations

import email
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-wheels.sh"
spec = importlib.util.spec_from_file_location("gpu_wheels", ROOT / "scripts" / "gpu_wheels.py")
gpu_wheels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_wheels)
# The GPU machine's interpreter, as packaging's environment markers see it.
PY312_LINUX = {"python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
               "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
               "platform_machine": "x86_64", "os_name": "posix", "extra": ""}

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("gpu-wheels") / "wheels"
    res = subprocess.run(["bash", str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(folder.parent)})
    assert res.returncode == 0, res.stdout + res.stderr
    return folder, res.stdout


def _projects(folder: Path) -> list[str]:
    return [canonicalize_name(parse_wheel_filename(w.name)[0]) for w in folder.glob("*.whl")]


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.message_from_bytes(z.read(meta))
    reqs = [Requirement(r) for r in message.get_all("Requires-Dist") or []]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(PY312_LINUX)]


def test_each_needed_project_once_nothing_the_machine_has_under_the_limit(fetched):
    folder, printed = fetched
    projects = _projects(folder)
    assert len(projects) == len(set(projects))  # nothing twice
    assert set(gpu_wheels.NEEDED) <= set(projects) and not set(projects) & gpu_wheels.HAVE
    sizes = {w.name: w.stat().st_size for w in folder.glob("*.whl")}
    assert sum(sizes.values()) < 60 * 2**20
    for name in sizes:  # the list and the sizes are printed
        assert name in printed
    assert f"total, {len(sizes)} wheels" in printed and (folder / "wheels.txt").read_text().strip() in printed


def test_every_wheel_installs_on_cpython_312_from_the_folder_alone(fetched, tmp_path):
    folder, _ = fetched
    report = tmp_path / "report.json"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(folder),
                          "--python-version", "3.12", "--implementation", "cp", "--platform", gpu_wheels.PLATFORM,
                          "--only-binary=:all:", "--target", str(tmp_path / "target"), "--no-deps", "--report", str(report),
                          *_projects(folder)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    chosen = {Path(i["download_info"]["url"]).name for i in json.loads(report.read_text())["install"]}
    assert chosen == {w.name for w in folder.glob("*.whl")}


def test_every_dependency_is_in_the_folder_or_on_the_machine(fetched):
    """The rest of the resolution: what each wheel requires on 3.12/Linux is fetched or already there."""
    folder, _ = fetched
    available = set(_projects(folder)) | gpu_wheels.HAVE
    missing = {f"{w.name}: {r}" for w in folder.glob("*.whl") for r in _requirements(w)
               if canonicalize_name(r.name) not in available}
    assert not missing


def test_a_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert res.returncode != 0 and "holds other files" in res.stderr and (tmp_path / "notes.txt").read_text() == "mine"
