"""Reading ahead on a thread (`cep.io.prefetch.read_ahead`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cep.io.prefetch import read_ahead


def test_items_come_in_order() -> None:
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(read_ahead(iter([]))) == []


def test_an_error_comes_where_its_item_would_have() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_stops_the_thread() -> None:
    made = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            made.append(n)
            yield n
            n += 1

    before = threading.active_count()
    reader = read_ahead(endless(), depth=2)
    assert [next(reader) for _ in range(5)] == [0, 1, 2, 3, 4]
    reader.close()
    assert threading.active_count() == before
    assert len(made) <= 5 + 2 + 1  # read ahead at most `depth` (and the one in hand)
