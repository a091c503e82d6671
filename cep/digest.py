"""SHA-256 for cep's cache keys and rule fingerprints, without OpenSSL.

`hashlib` loads OpenSSL's library when imported (about 2.5 ms of every run's start);
Python's own SHA-256 module gives the same digests without it. The digests name numba's
cache folder, the native module and parsed rule files, and say what a checkpoint's
state means: a wrong match would run the wrong code or read the wrong state, so they
stay SHA-256, only computed by the smaller module (`hashlib`'s where it is missing).
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # type: ignore[import-not-found]  # (Python 3.12 and later)
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef]  # (3.11)
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]

__all__ = ["sha256"]
