"""`RuleWatcher` (cep run --watch): a rule file edited is checked again; clean edits
give new rules, broken ones are reported once and give nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

from cep.lang.checker import check_paths
from cep.service.watch import RuleWatcher

RULES = """event E { v: int, k: str }
rule r { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 1m }
"""


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime


def _watcher(tmp_path: Path) -> tuple[RuleWatcher, Path, io.StringIO]:
    path = tmp_path / "r.cep"
    path.write_text(RULES)
    err = io.StringIO()
    return RuleWatcher([str(tmp_path)], check_paths([str(tmp_path)]), err=err), path, err


def test_nothing_changed_gives_nothing(tmp_path: Path) -> None:
    watcher, _, err = _watcher(tmp_path)
    assert watcher.poll(now=True) is None and err.getvalue() == ""


def test_a_clean_edit_gives_the_new_rules(tmp_path: Path) -> None:
    watcher, path, _ = _watcher(tmp_path)
    _touch(path, RULES.replace("v == 2", "v >= 2"))
    reload = watcher.poll(now=True)
    assert reload is not None and [r.name for r in reload.rules] == ["r"]
    assert watcher.poll(now=True) is None  # seen once


def test_a_new_file_in_a_watched_folder_is_seen(tmp_path: Path) -> None:
    watcher, _, _ = _watcher(tmp_path)
    (tmp_path / "s.cep").write_text("rule s { pattern a = E[v == 3] }\n")
    reload = watcher.poll(now=True)
    assert reload is not None and sorted(r.name for r in reload.rules) == ["r", "s"]


def test_a_broken_edit_is_reported_once_and_changes_nothing(tmp_path: Path) -> None:
    watcher, path, err = _watcher(tmp_path)
    _touch(path, RULES.replace("v == 2", "v == "))
    assert watcher.poll(now=True) is None
    assert "error" in err.getvalue() and "the rules in use go on" in err.getvalue()
    reported = err.getvalue()
    assert watcher.poll(now=True) is None and err.getvalue() == reported
    _touch(path, RULES)
    assert watcher.poll(now=True) is not None


def test_polls_are_spaced_by_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "r.cep"
    path.write_text(RULES)
    now = [0.0]
    watcher = RuleWatcher([str(path)], check_paths([str(path)]), every=1.0, clock=lambda: now[0])
    _touch(path, RULES.replace("1m", "2m"))
    assert watcher.poll() is None  # too soon to look
    now[0] = 1.5
    assert watcher.poll() is not None
