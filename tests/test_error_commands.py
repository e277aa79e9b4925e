"""Every command a message suggests is runnable as printed: each `seje...` command quoted in a string of
the code (docstrings and click help aside) names a real subcommand, only real options, every required
option and argument, and marks what the user fills in as a placeholder (BUNDLE_DIR, RUN_DIR, ...)."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest

from benchmarks.cli import main as bench_cli
from export.cli import main as export_cli
from seje_sdk.bundle import Bundle
from seje_sdk.cli import main as seje_cli
from seje_sdk.errors import BundleError
from trainer.cli import main as train_cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"seje": seje_cli, "seje-train": train_cli, "seje-export": export_cli, "seje-bench": bench_cli}
QUOTED = re.compile(r"`((?:seje|seje-train|seje-export|seje-bench)(?: [^`]*)?)`")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # what the user fills in: BUNDLE_DIR, RUN_DIR, DIR, ...
RUNTIME = "{VALUE}"  # an f-string field: the real value is in the printed message


def _message_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals and f-strings (fields as {VALUE}), except docstrings and click help= texts."""
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.keyword) and node.arg == "help":
            skip.update(id(n) for n in ast.walk(node.value))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            out.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else RUNTIME for v in node.values)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
    return out


def suggested_commands() -> list[tuple[str, str]]:
    """(where, command) for every quoted seje command in the packages' messages."""
    found = []
    for package in ("seje_sdk", "trainer", "export", "benchmarks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _message_strings(ast.parse(path.read_text(encoding="utf-8"))):
                found += [(f"{path.relative_to(ROOT)}:{line}", m.group(1)) for m in QUOTED.finditer(text)]
    return found


def problems_of(command: str) -> list[str]:
    """What keeps `command` from running as printed against the real click command; [] when nothing."""
    tokens = shlex.split(command.replace("[", " ").replace("]", " "))  # [--opt] marks an optional part
    cmd: click.Command = SCRIPTS[tokens.pop(0)]
    while isinstance(cmd, click.Group):
        if not tokens or tokens[0] not in cmd.commands:
            return [f"names no subcommand of {cmd.name} ({', '.join(sorted(cmd.commands))})"]
        cmd = cmd.commands[tokens.pop(0)]
    options = {name: p for p in cmd.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}
    seen, positional, problems = set(), [], []
    while tokens:
        token = tokens.pop(0)
        if not token.startswith("-"):
            positional.append(token)
            continue
        param = options.get(token.split("=")[0])
        if param is None:
            problems.append(f"{cmd.name} has no option {token}")
            continue
        seen.add(param.name)
        if not (param.is_flag or param.count) and "=" not in token:
            value = tokens.pop(0) if tokens else None
            if value is None or not _fillable(value, param):
                problems.append(f"{token} needs a value or a placeholder, got {value!r}")
    for p in cmd.params:
        if isinstance(p, click.Option) and p.required and p.name not in seen:
            problems.append(f"{cmd.name} needs {p.opts[-1]}")
    arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
    least = sum(p.nargs for p in arguments if p.required and p.nargs > 0)
    most = None if any(p.nargs < 0 for p in arguments) else sum(p.nargs for p in arguments)
    if len(positional) < least or (most is not None and len(positional) > most):
        problems.append(f"{cmd.name} takes {least}..{most if most is not None else 'any'} arguments, got {positional}")
    problems += [f"unclear argument {v!r} (use a placeholder such as BUNDLE_DIR)" for v in positional if not _fillable(v)]
    return problems


def _fillable(value: str, param: click.Parameter | None = None) -> bool:
    """A value as printed is runnable: a runtime value, a marked placeholder, a valid choice or a number."""
    if RUNTIME in value or PLACEHOLDER.match(value):
        return True
    if param is not None and isinstance(param.type, click.Choice):
        return value in param.type.choices
    return bool(re.fullmatch(r"[0-9]+(?:[.,][0-9]+)*", value))


def test_the_checker_catches_the_known_wrong_suggestions():
    assert problems_of("seje-train features --out {VALUE}") == ["features needs --data"]
    assert problems_of("seje-export RUN_DIR --out BUNDLE_DIR --engine tensorrt [--fp16]") == []
    assert problems_of("seje-train features --data {VALUE} --out ...")[0].startswith("--out needs a value or a placeholder")
    assert problems_of("seje index") and problems_of("seje info")
    assert problems_of("seje index build BUNDLE_DIR --recipes FILE --out INDEX_DIR") == []


def test_every_suggested_command_parses_against_the_real_cli():
    found = suggested_commands()
    assert len(found) >= 20  # the scan sees the messages (a broken regex would find none and pass)
    bad = {f"{where}: `{command}`": problems for where, command in found if (problems := problems_of(command))}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())


@pytest.mark.parametrize("make", ["run", "empty", "missing"])
def test_seje_info_on_a_wrong_folder_suggests_an_export_into_a_bundle_folder(tmp_path, make):
    folder = tmp_path / "thing"
    if make == "run":  # a RUN_DIR: the export's input, never its output
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    elif make == "empty":
        folder.mkdir()
    with pytest.raises(BundleError) as err:
        Bundle.load(folder)
    command = QUOTED.search(str(err.value)).group(1)
    assert problems_of(command.replace(str(folder), "{VALUE}")) == []
    if make == "run":
        assert command == f"seje-export {folder} --out BUNDLE_DIR"
    else:
        assert command == f"seje-export RUN_DIR --out {folder}"
