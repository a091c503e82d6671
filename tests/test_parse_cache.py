"""The cache of parsed rule files (`cep.lang.parse_cache`): a file parsed once is read
back, never a stale entry, and a cache that cannot work only means parsing again."""

from __future__ import annotations

from pathlib import Path

import pytest

import cep.lang.parse_cache as parse_cache
from cep.api import load_rules
from cep.lang.checker import check_paths

RULES = """
event E { k: str, v: int }
rule r { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 5s }
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths actually parsed (not read back)."""
    seen: list[str] = []
    real = parse_cache.parse_source

    def counting(source: str, path: str):  # type: ignore[no-untyped-def]
        seen.append(path)
        return real(source, path)

    monkeypatch.setattr(parse_cache, "parse_source", counting)
    return seen


def _rules(tmp_path: Path, text: str = RULES) -> str:
    path = tmp_path / "r.cep"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_file_is_parsed_once_and_read_back_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path / "cache"))
    path = _rules(tmp_path)
    first = check_paths([path])
    second = check_paths([path])
    assert parses == [path]
    assert first.ok and second.ok
    assert second.program.files[path].module == first.program.files[path].module
    assert len(list((tmp_path / "cache" / "parsed").glob("*.pickle"))) == 1


def test_an_edited_file_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path / "cache"))
    path = _rules(tmp_path)
    check_paths([path])
    _rules(tmp_path, RULES.replace("5s", "6s"))
    edited = check_paths([path])
    assert parses == [path, path]
    assert load_rules(edited)[0].window_ms == 6_000


def test_errors_read_back_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path / "cache"))
    path = _rules(tmp_path, RULES + "rule broken { pattern a = E[v == ] }\n")
    first = [str(d) for d in check_paths([path]).diagnostics]
    second = [str(d) for d in check_paths([path]).diagnostics]
    assert first and first == second
    assert parses == [path]


def test_a_damaged_entry_means_parsing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path / "cache"))
    path = _rules(tmp_path)
    check_paths([path])
    for entry in (tmp_path / "cache" / "parsed").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    assert check_paths([path]).ok
    assert parses == [path, path]


def test_no_cache_when_turned_off_or_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    path = _rules(tmp_path)
    monkeypatch.setenv("CEP_CACHE_DIR", "")
    assert check_paths([path]).ok and check_paths([path]).ok
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    monkeypatch.setenv("CEP_CACHE_DIR", str(blocked))
    assert check_paths([path]).ok and check_paths([path]).ok
    assert parses == [path] * 4
    assert list(tmp_path.glob("**/*.pickle")) == []
