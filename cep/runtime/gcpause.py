"""Python's cyclic garbage collector held off while many objects are made at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (it runs again after, if it was on).

    Making a million objects that live on (a batch's reports, a restored engine's runs)
    makes the collector scan every live object of the process again and again, for
    nothing: they are freed by reference counting or kept. Also a decorator.

    On the way out the objects made are moved to the oldest generation at once
    (`gc.freeze` then `gc.unfreeze`: two list splices), so that the first collection
    after the block does not walk them all as young objects; cycles among them are
    still collected, by the next full collection."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        gc.enable()
