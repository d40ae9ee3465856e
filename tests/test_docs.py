"""The documentation is tested: generated pages are up to date, every hook is documented
with its exact signature and has a ``test_hook_<name>`` test, the tutorial's and the
embedding guide's code runs, and the MkDocs site builds with ``--strict``."""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from siren_core import hookspecs
from siren_core.cli import docgen

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
HOOKS = docgen.hook_functions()
FILE_HEADER = re.compile(r"# file: (\S+)\n")


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), flags=re.S | re.M)


# -- generated pages -----------------------------------------------------------------------

@pytest.mark.parametrize("relative", sorted(docgen.pages()))
def test_generated_pages_are_up_to_date(relative: str) -> None:
    committed = (DOCS / relative).read_text()
    assert committed == docgen.pages()[relative](), (
        f"docs/{relative} is out of date: run `python -m siren_core.cli.docgen`")


def test_there_are_hooks_to_document() -> None:
    names = {hook.__name__ for hook in HOOKS}
    assert {"siren_trigger_strategies", "siren_allocation_calculators",
            "siren_on_event"} <= names
    assert all(name.startswith("siren_") for name in names)


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_every_hook_is_documented_with_its_exact_signature(hook: object) -> None:
    name = hook.__name__  # type: ignore[attr-defined]
    docstring = inspect.getdoc(hook)
    assert docstring, f"{name} has no docstring"
    assert "Example::" in docstring, f"{name}'s docstring shows no example"
    exact = f"{name}{inspect.signature(hook)}".replace("'", "")  # type: ignore[arg-type]
    page = (DOCS / "plugins" / "hooks.md").read_text()
    section = page.split(f"\n## {name}\n", 1)
    assert len(section) == 2, f"docs/plugins/hooks.md has no section for {name}"
    assert section[1].lstrip().startswith(f"```python\n{exact}\n```"), (
        f"the section for {name} does not start with its signature {exact}")
    first_line = docstring.splitlines()[0].replace("``", "`")
    assert first_line in section[1]


def _test_functions() -> set[str]:
    names = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                names.add(node.name)
    return names


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.__name__)
def test_every_hook_has_a_test(hook: object) -> None:
    name = hook.__name__  # type: ignore[attr-defined]
    assert f"test_hook_{name}" in _test_functions(), f"no test named test_hook_{name}"


def test_every_hookspec_function_is_a_hook() -> None:
    functions = [value for value in vars(hookspecs).values()
                 if inspect.isfunction(value) and value.__name__.startswith("siren_")]
    assert sorted(f.__name__ for f in functions) == sorted(h.__name__ for h in HOOKS)


# -- documented code runs ------------------------------------------------------------------

@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder; modules imported from it are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    for variable in ("SIREN_LOAD_PLUGINS", "SIREN_DISABLE_PLUGINS", "SIREN_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    path, modules = list(sys.path), set(sys.modules)
    yield tmp_path
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.startswith("siren_reviews"):
            del sys.modules[name]


def test_the_tutorial_code_runs_and_its_tests_pass(scratch: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    page = DOCS / "plugins" / "tutorial.md"
    blocks = _blocks(page, "python")
    files = [block for block in blocks if FILE_HEADER.match(block)]
    scripts = [block for block in blocks if not FILE_HEADER.match(block)]
    assert len(files) == 5 and len(scripts) == 2
    for block in files:  # "write this into <file>", "add this to the same file"
        target = scratch / FILE_HEADER.match(block).group(1)  # type: ignore[union-attr]
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write(FILE_HEADER.sub("", block, count=1))
    (scratch / "src" / "siren_reviews" / "__init__.py").touch()
    for script in scripts:  # the first calculator, then the day-aware one
        exec(compile(script, str(page), "exec"), {"__name__": "__tutorial__"})
    printed = capsys.readouterr().out
    assert "{'ana': 9091, 'ben': 909}" in printed
    assert "{'ana': 6000, 'ben': 4000}" in printed
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=scratch, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(scratch / "src")})
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert "6 passed" in ran.stdout


def test_the_tutorial_entry_point_names_the_module_it_writes() -> None:
    page = DOCS / "plugins" / "tutorial.md"
    project = tomllib.loads(_blocks(page, "toml")[0])
    [(name, module)] = project["project"]["entry-points"]["siren"].items()
    assert name == "reviews" and module == "siren_reviews.plugin"
    [later] = [block for block in _blocks(page, "toml")[1:] if "entry-points" in block]
    second = tomllib.loads(later)["project"]["entry-points"]["siren"]
    assert second == {"reviews": module, "streaks": "siren_reviews.streaks"}
    headers = {FILE_HEADER.match(b).group(1)  # type: ignore[union-attr]
               for b in _blocks(page, "python") if FILE_HEADER.match(b)}
    for listed in second.values():
        assert "src/" + listed.replace(".", "/") + ".py" in headers


def test_the_embedding_guide_runs_as_one_program(scratch: Path) -> None:
    pytest.importorskip("flask")
    page = DOCS / "embedding.md"
    program = "\n".join(_blocks(page, "python"))
    namespace: dict[str, object] = {"__name__": "__embedding__"}
    exec(compile(program, str(page), "exec"), namespace)
    assert (scratch / "shop.db").exists()


def test_the_getting_started_code_runs(scratch: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    page = DOCS / "getting-started.md"
    [program] = _blocks(page, "python")
    exec(compile(program, str(page), "exec"), {"__name__": "__getting_started__"})
    assert capsys.readouterr().out.splitlines() == ["30000", "alice 20 20000", "bob 10 10000"]


# -- the site ------------------------------------------------------------------------------

def _nav_files(entries: object) -> Iterator[str]:
    if isinstance(entries, str):
        yield entries
    elif isinstance(entries, list):
        for entry in entries:
            yield from _nav_files(entry)
    elif isinstance(entries, dict):
        for value in entries.values():
            yield from _nav_files(value)


def test_every_page_is_in_the_navigation_and_every_entry_exists() -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with mkdocs (the dev extra)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = set(_nav_files(config["nav"]))
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert listed <= pages, f"nav entries without a page: {sorted(listed - pages)}"
    assert pages <= listed, f"pages missing from the nav: {sorted(pages - listed)}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which(
        "mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (it is in the dev extra)")
    built = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
