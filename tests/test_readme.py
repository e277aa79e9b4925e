"""The README and docs/ stay short and true: length, no issue numbers or maintainers' paths, live links, real commands.

Cheap checks (no pipeline run): every relative link resolves to a file (and its #anchor to a heading),
every `seje*` command the README or docs show is a console script of pyproject.toml whose subcommands
and options exist in its click tree, and every extra a `pip install` line names is declared.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 260
# docs/ files that other branches add; listed so that a failure says which links wait for a merge.
EXPECTED_FROM_OTHER_BRANCHES = {
    "docs/first-run.md", "docs/import.md", "docs/free-text.md", "docs/security.md",
    "docs/service-operations.md", "docs/install-variants.md", "docs/runtimes.md",
}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")
COMMAND = re.compile(r"^(seje(?:-[a-z]+)?)(?=\s|$)")
EXTRAS = re.compile(r"pip install .*?(?:seje|\.)\[([a-z0-9,-]+)\]")  # extras named in install commands


def readme() -> str:
    return README.read_text(encoding="utf-8")


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    body = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", body, re.M)}


def broken_links(path: Path) -> list[str]:
    """Relative links of one markdown file whose file or #anchor does not exist."""
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def shown_commands(text: str) -> list[str]:
    """`seje*` command lines of bash blocks (continuations joined, comments cut) and inline code spans."""
    found = []
    for lang, block in FENCE.findall(text):
        if lang not in ("bash", "sh", ""):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):  # one command per segment of a chain
                if COMMAND.match(part.strip()):
                    found.append(part.strip())
    for span in INLINE.findall(FENCE.sub("", text)):
        for part in re.split(r"&&|;|\|", span):
            if COMMAND.match(part.strip()):
                found.append(part.strip())
    return found


def scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def entry_point(target: str) -> click.Command:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def command_problem(line: str, table: dict[str, str]) -> str | None:
    """What is wrong with one shown command (unknown script, subcommand or option), or None."""
    tokens = [t.strip("[]") for t in line.split()]
    if tokens[0] not in table:
        return f"{tokens[0]} is not a console script in pyproject.toml"
    cmd, path = entry_point(table[tokens[0]]), [tokens[0]]
    rest = tokens[1:]
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-") and rest[0] != "...":
        if "/" in rest[0]:  # shorthand for several subcommands: `seje-train features/fit/eval`
            unknown = [name for name in rest[0].split("/") if name not in cmd.commands]
            return f"{' '.join(path)} has no subcommand {unknown[0]!r}" if unknown else None
        if rest[0] not in cmd.commands:
            return f"{' '.join(path)} has no subcommand {rest[0]!r}"
        cmd, rest = cmd.commands[rest[0]], rest[1:]
        path.append(cmd.name)
    if isinstance(cmd, click.Group):
        return None if len(tokens) == 1 else f"{' '.join(path)} needs a subcommand"  # a bare name is a mention
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
    for token in rest:
        option = token.split("=")[0].split("|")[0]
        if re.fullmatch(r"--?[a-zA-Z][\w-]*", option) and option not in known:
            return f"{' '.join(path)} has no option {option}"
    return None


def test_readme_is_short():
    lines = readme().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines (at most {MAX_LINES}): move detail into docs/"


def test_readme_starts_with_the_two_commands():
    first_block = FENCE.search(readme()).group(2)
    assert first_block.splitlines()[0].startswith("bash scripts/demo.sh")
    assert first_block.splitlines()[1].startswith("bash scripts/test.sh")


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_issue_numbers_or_maintainers_paths(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not re.findall(r"issue\s*#?\d+", text, re.I), f"{path.name} names issue numbers"
    assert not re.findall(r"(?<![\w.])/(?:work|root|home|Users|tmp)/", text), f"{path.name} shows a maintainer's path"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(path: Path):
    broken = broken_links(path)
    waiting = sorted(t for t in EXPECTED_FROM_OTHER_BRANCHES if any(t.split("/")[-1] in b for b in broken))
    hint = f"; expected from other branches (merge them): {', '.join(waiting)}" if waiting else ""
    assert not broken, f"{path.name}: broken links: {broken}{hint}"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shown_commands_exist(path: Path):
    table = scripts()
    shown = shown_commands(path.read_text(encoding="utf-8"))
    problems = [f"{line!r}: {why}" for line in shown if (why := command_problem(line, table))]
    assert not problems, "\n".join(problems)


def test_readme_shows_commands_of_every_script():
    shown = {COMMAND.match(line).group(1) for line in shown_commands(readme())}
    assert shown >= set(scripts()), f"the README shows no command of {sorted(set(scripts()) - shown)}"


def test_pip_extras_exist():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for path in markdown_files():
        named = {e for group in EXTRAS.findall(path.read_text(encoding="utf-8")) for e in group.split(",")}
        assert named <= declared, f"{path.name} names undeclared extras {sorted(named - declared)}"


def test_command_check_catches_a_wrong_option():
    table = scripts()
    assert command_problem("seje-train fit --data D --set lr=1", table) == "seje-train fit has no option --set"
    assert command_problem("seje index drop X", table) == "seje index has no subcommand 'drop'"
    assert command_problem("seje-bench latency B --run R --batch-sizes 1,32", table) is None
    assert command_problem("seje-train features/fit/eval", table) is None
    assert command_problem("seje-train features/train", table) == "seje-train has no subcommand 'train'"


def test_link_check_catches_missing_files_and_anchors(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## The `exact` index, fast\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#the-exact-index-fast) [gone](docs/b.md) [bad](docs/a.md#nowhere)\n")
    broken = broken_links(page)
    assert len(broken) == 2 and "b.md" in broken[0] and "#nowhere" in broken[1]
