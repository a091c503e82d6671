"""A first run that does not wait for the compiler: `--engine auto` on a machine whose
numba cache holds no fast path yet starts on the interpreter while a background process
compiles (`cep.fast.warmup`), and moves to the fast path between two batches once that
process is done, carrying its state over in a snapshot (`cep.engine.state`), so the
reports are those of one engine from start to end."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from cep.engine import RuleEngine
from cep.engine.state import load as load_state

#: how often, in wall seconds, the run looks whether the compile is done
CHECK_EVERY_S = 1.0


class Promoter:
    """Called between batches (`Feed.reload`): the fast engine to go on with, and that
    the input must be read again from the last batch fed (the interpreter reads no
    columns), once the background compile is done; None until then, and for good once
    it has moved or the compile failed."""

    def __init__(self, open_fast: Callable[[], RuleEngine], quiet: bool = False) -> None:
        self.open_fast = open_fast
        self.quiet = quiet
        self.done = False
        self._next_check = 0.0

    def ready(self) -> bool | None:
        """True when the fast path is compiled, None while it compiles, False if the
        compile ended without it."""
        from cep.fast import warmup
        from cep.fast.cache import kernel_cached

        if warmup.compiling():
            return None
        return kernel_cached()

    def __call__(self, engine: RuleEngine) -> tuple[RuleEngine, bool] | None:
        if self.done:
            return None
        now = time.monotonic()
        if now < self._next_check:
            return None
        self._next_check = now + CHECK_EVERY_S
        ready = self.ready()
        if ready is None:
            return None
        self.done = True
        if not ready:
            return None
        fresh = self.open_fast()
        fresh.restore(load_state(engine.snapshot()))
        if not self.quiet:
            print("cep run: the fast path is compiled; the run goes on with it",
                  file=sys.stderr, flush=True)  # fmt: skip
        return fresh, True


def chain(
    *steps: Callable[[RuleEngine], tuple[RuleEngine, bool] | None] | None,
) -> Callable[[RuleEngine], tuple[RuleEngine, bool] | None] | None:
    """One `Feed.reload` of several: the first that changes the engine wins."""
    found = [step for step in steps if step is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]

    def reload(engine: RuleEngine) -> tuple[RuleEngine, bool] | None:
        for step in found:
            changed = step(engine)
            if changed is not None:
                return changed
        return None

    return reload
