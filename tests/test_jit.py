"""numba's cache for cep's compiled functions is keyed by all of their source
(`cep.jit`): a list that missed a module would let stale machine code run."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from cep import jit

PACKAGE = Path(jit.__file__).resolve().parent


def _module_path(dotted: str) -> str | None:
    """`cep.fast.kernel` -> `fast/kernel.py` (None for what is not a module of cep)."""
    parts = dotted.split(".")
    if parts[0] != "cep":
        return None
    relative = "/".join(parts[1:]) + ".py"
    return relative if (PACKAGE / relative).is_file() else None


def _compiled_functions(path: Path) -> list[ast.FunctionDef]:
    """The module's functions decorated with `njit`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "njit":
                    found.append(node)
    return found


def _defines_compiled(path: Path) -> bool:
    return bool(_compiled_functions(path))


def _names_read_by_compiled_code(path: Path) -> set[str]:
    return {
        node.id
        for function in _compiled_functions(path)
        for node in ast.walk(function)
        if isinstance(node, ast.Name)
    }


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """The module's top-level `from cep... import names`."""
    tree = ast.parse(path.read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_with_compiled_functions_is_keyed_and_uses_cep_jit(path: Path) -> None:
    relative = str(path.relative_to(PACKAGE))
    if not _defines_compiled(path):
        return
    assert relative in jit.COMPILED_MODULES
    modules = [module for module, _ in _imports(path)]
    assert "numba" not in modules, "take njit from cep.jit, so its cache is keyed by source"
    assert any(module == "cep.jit" and "njit" in names for module, names in _imports(path))


@pytest.mark.parametrize("relative", jit.COMPILED_MODULES)
def test_what_compiled_code_reads_from_other_modules_is_keyed_too(relative: str) -> None:
    """The names a module's compiled functions read that it imports from another module
    of cep (functions called or inlined, constants frozen into machine code) come from
    modules the digest covers."""
    read = _names_read_by_compiled_code(PACKAGE / relative)
    for module, names in _imports(PACKAGE / relative):
        source = _module_path(module)
        if source is not None and read.intersection(names):
            assert source in jit.COMPILED_MODULES, (relative, module, read.intersection(names))


def test_the_digest_follows_every_compiled_module_and_nothing_else(tmp_path: Path) -> None:
    copy = tmp_path / "cep"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    first = jit.source_digest(copy)
    assert jit.source_digest(copy) == first
    (copy / "lang" / "checker.py").write_text("# an interpreted module\n")
    assert jit.source_digest(copy) == first
    seen = {first}
    for relative in jit.COMPILED_MODULES:
        path = copy / relative
        path.write_text(path.read_text() + "\n# changed\n")
        digest = jit.source_digest(copy)
        assert digest not in seen, relative
        seen.add(digest)


def test_the_cache_folder_is_cep_s_own_or_numba_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path))
    assert jit.cache_folder() == tmp_path / f"numba-{jit.source_digest()}"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert jit.cache_folder() == tmp_path / "numba" / f"cep-{jit.source_digest()}"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("CEP_CACHE_DIR", "")
    assert jit.cache_folder() is None


def test_compiled_functions_cache_in_the_folder_and_leave_numba_s_setting() -> None:
    import numba

    from cep.fast import kernel

    before = numba.config.CACHE_DIR
    locator = kernel.run_batch._cache._cache_path
    assert jit._FOLDER is None or locator.startswith(jit._FOLDER)

    @jit.njit(cache=True)
    def double(x):  # type: ignore[no-untyped-def]
        return 2 * x

    assert double(21) == 42
    assert before == numba.config.CACHE_DIR


def test_cache_folders_of_other_sources_unused_for_a_month_are_removed(tmp_path: Path) -> None:
    import os

    now = 1_900_000_000.0
    current = tmp_path / f"numba-{'a' * 20}"
    stale = tmp_path / f"numba-{'b' * 20}"
    recent = tmp_path / f"numba-{'c' * 20}"
    unrelated = tmp_path / "parsed"
    look_alike = tmp_path / "numba-mine"
    for folder in (current, stale, recent, unrelated, look_alike):
        folder.mkdir()
        (folder / "entry").write_text("x")
    old = now - jit.UNUSED_FOR_S - 1
    for folder in (current, stale, unrelated, look_alike):
        os.utime(folder, (old, old))
    os.utime(recent, (now - 60, now - 60))
    jit.remove_unused(current, now=now)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [current.name, recent.name, look_alike.name, unrelated.name]
    )
