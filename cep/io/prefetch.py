"""Reading ahead: the next items of an iterator made on a thread while the caller works
on the last one (for sources whose work releases the GIL, such as pyarrow's decoding)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.05


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, in order, each made on a background thread up to `depth` ahead. An
    exception the iterator raises is raised here, where its item would have come;
    stopping early (closing this generator) stops the thread."""
    made: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                made.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
        except BaseException as error:  # handed to the reader, raised there
            hand_over((_END, error))
            return
        hand_over((_END, None))

    thread = threading.Thread(target=work, name="cep-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = made.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
