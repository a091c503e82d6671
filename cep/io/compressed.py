"""Input files compressed with gzip (`.gz`) or Zstandard (`.zst`), read as they are
decompressed (pyarrow's codecs: no dependency beyond the one the Parquet reader needs).

A compressed file is read as a stream of its decompressed bytes: positions (a
checkpoint's byte offset) count decompressed bytes, and a resumed read decompresses up
to its offset again. A damaged file ends the run with a `SourceError`, like a file that
cannot be read."""

from __future__ import annotations

from typing import Any

from cep.io.sources import SourceError

#: a compressed file's name ends so; the format is guessed from the name before it
CODECS = {".gz": "gzip", ".zst": "zstd"}


def codec_of(path: str) -> str | None:
    """The codec a file name says its file is compressed with, if any."""
    lower = path.lower()
    return next((codec for end, codec in CODECS.items() if lower.endswith(end)), None)


def plain_name(path: str) -> str:
    """The name without its compression suffix (`feed.csv.gz` -> `feed.csv`)."""
    return path[: path.rfind(".")] if codec_of(path) else path


class Decompressed:
    """A compressed file's decompressed bytes, as a binary stream the line readers take;
    pyarrow's errors for a damaged file become `SourceError`s."""

    def __init__(self, path: str, codec: str, offset: int = 0) -> None:
        import pyarrow as pa

        self.path = path
        self._error = pa.ArrowException
        try:
            self.stream = pa.input_stream(path, compression=codec)
        except (OSError, pa.ArrowException) as error:
            raise SourceError(f"cannot read {path}: {error}") from error
        while offset > 0:  # (no seeking in a compressed stream: decompress up to it)
            skipped = len(self.read(min(offset, 1 << 20)))
            if not skipped:
                break
            offset -= skipped

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self.stream.readinto(buffer))
        except (OSError, self._error) as error:
            raise SourceError(f"cannot read {self.path}: {_words(error)}") from error

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self.stream.read(None if size < 0 else size))
        except (OSError, self._error) as error:
            raise SourceError(f"cannot read {self.path}: {_words(error)}") from error

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> Decompressed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _words(error: Exception) -> str:
    """pyarrow's message for a damaged file, without its internal prefixes."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"not a valid compressed file ({text})"
