"""`cep run --watch`: the rule files of a run, checked again when they change.

A change is seen by polling (at most once per `every` seconds of wall time) the size,
modification time and inode of every rule file the run loaded (imports included) and
of the `*.cep` files now under the folders named. A change that checks cleanly gives
the new rules; one with errors prints them and gives nothing, so the old rules go on
(the same broken edit is reported once)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from cep.api import load_rules
from cep.compile.rule import CompiledRule
from cep.lang.checker import CheckedProgram, check_paths
from cep.lang.program import RulePathError, collect_rule_files

Signature = dict[str, tuple[int, int, int] | None]


@dataclass
class Reload:
    """Rules that changed and check cleanly."""

    checked: CheckedProgram
    rules: list[CompiledRule]


class RuleWatcher:
    """Polls a run's rule files (`poll`) for changes."""

    def __init__(
        self,
        paths: list[str],
        checked: CheckedProgram,
        names: Iterable[str] | None = None,
        *,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        err: TextIO | None = None,
    ) -> None:
        self.paths = paths
        self.names = None if names is None else list(names)
        self.every = every
        self.clock = clock
        self.err = err
        self._next = clock() + every
        self._signature = self._now(checked)
        self._missing = False

    def _now(self, checked: CheckedProgram) -> Signature:
        try:
            named = collect_rule_files(self.paths)
        except RulePathError:
            named = []
        files = sorted({os.path.normpath(f) for f in (*named, *checked.program.files)})
        return {name: _stat(name) for name in files}

    def _say(self, text: str) -> None:
        print(text, file=self.err or sys.stderr, flush=True)

    def poll(self, *, now: bool = False) -> Reload | None:
        """New rules when the files changed since the last look and check cleanly;
        None otherwise (errors are printed). Looks at the files at most once per
        `every` seconds unless `now`."""
        if not now and self.clock() < self._next:
            return None
        self._next = self.clock() + self.every
        try:
            named = collect_rule_files(self.paths)
        except RulePathError as error:
            if not self._missing:
                self._say(f"cep run: --watch: {error}; the rules in use go on")
                self._missing = True
            return None
        self._missing = False
        known = {*self._signature, *(os.path.normpath(f) for f in named)}
        if {name: _stat(name) for name in known} == self._signature:
            return None
        checked = check_paths(self.paths)
        self._signature = self._now(checked)
        if not checked.ok:
            self._say(checked.render(checked.errors))
            self._say(
                f"cep run: --watch: the changed rules have {len(checked.errors)} error(s); "
                "the rules in use go on"
            )
            return None
        try:
            rules = load_rules(checked, self.names)
        except KeyError as error:
            self._say(f"cep run: --watch: {error.args[0]}; the rules in use go on")
            return None
        if not rules:
            self._say("cep run: --watch: the changed files hold no rules; the rules in use go on")
            return None
        return Reload(checked, rules)


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size, found.st_ino
