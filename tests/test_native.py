"""The native module (`cep.native`, built by `cep.fast.nativebuild`): a process that
finds it calls cep's compiled functions without importing numba, with numba's results;
a call of argument types it was not built for turns the process to numba, with the
same results, and drops the module so that the next run builds it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cep import jit, native
from cep.fast import nativebuild
from cep.fast.order import in_time_order

REPO = Path(__file__).resolve().parent.parent
Pair = namedtuple("Pair", ["a", "b"])

DTYPES = sorted(native.DTYPES)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Arrays of every dtype a native signature takes, C, F or neither in layout,
    writeable or not."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    value = np.zeros(shape, dtype=draw(st.sampled_from(DTYPES)))
    how = draw(st.sampled_from(["c", "f", "step", "transpose"]))
    if how == "f":
        value = np.asfortranarray(value)
    elif how == "step":
        value = value[::2]
    elif how == "transpose":
        value = value.T
    value.flags.writeable = draw(st.booleans())
    return value


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.sampled_from([np.int64(3), np.int32(-2), np.uint8(7), np.float64(0.5), np.bool_(True)]),
)
values = st.recursive(
    st.one_of(arrays(), scalars),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(tuple),
        st.tuples(inner, inner).map(lambda pair: Pair(*pair)),
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_a_value_s_key_is_that_of_the_type_numba_gives_it(value: object) -> None:
    """The module is chosen by the types numba would compile a call for: a call takes
    the export built for exactly that type, or none."""
    assert native.value_key(value) == nativebuild.type_key(numba.typeof(value))


def test_values_no_native_signature_takes_have_no_key() -> None:
    assert native.value_key(2**63) is None  # (numba: uint64)
    assert native.value_key(np.zeros(2, dtype="M8[ms]")) is None
    assert native.value_key(("a", 1)) is None
    assert native.value_key([1, 2]) is None


def _run(code: str, cache: Path) -> dict:
    """`code` in a fresh process on the cache folder `cache`, native modules allowed;
    what it printed last, as JSON."""
    env = {**os.environ, "CEP_CACHE_DIR": str(cache), "CEP_NATIVE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


CALLS = """
import json, sys
import numpy as np
from cep import jit
from cep.fast import order
ts = np.array([1, 2, 2, 5], dtype=np.int64)
seen = {"native": jit.uses_native(), "first": order.in_time_order(ts, 0),
        "numba": "numba" in sys.modules}
seen["later"] = order.in_time_order(ts, 3)
seen["numba_after_int64"] = "numba" in sys.modules
seen["other_types"] = order.in_time_order(ts.astype(np.OTHER), 0)
seen["numba_after_other"] = "numba" in sys.modules
seen["dispatcher"] = type(order.in_time_order).__name__
print(json.dumps(seen))
"""


@pytest.mark.skipif(not nativebuild.any_compiler(), reason="the native module needs a C compiler")
def test_a_process_on_the_native_module_turns_to_numba_for_other_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jit.use_numba()  # (this process: numba's, whatever module the machine has)
    folder = tmp_path / f"numba-{jit.source_digest()}"
    folder.mkdir()
    ts = np.array([1, 2, 2, 5], dtype=np.int64)
    assert in_time_order(ts, 0)  # (numba compiles it for int64 arrays: what is built)
    assert nativebuild.build(folder, only={"cep.fast.order.in_time_order"})
    library, index = native.paths(folder)
    assert library.is_file() and index.is_file()
    monkeypatch.setenv("CEP_NATIVE", "0")
    assert native.load(folder) is None
    # (a dtype the build left out: numba's cache may hold others from earlier runs)
    built = json.loads(index.read_text())["functions"]["cep.fast.order.in_time_order"]
    other = next(
        name for name in ("int32", "uint32", "int16", "uint16", "int8", "uint8")
        if not any(key.startswith(f"{name}[") for key, _ in built)
    )  # fmt: skip
    calls = CALLS.replace("OTHER", other)

    seen = _run(calls, tmp_path)

    assert seen["native"] and seen["first"] and not seen["later"]
    assert not seen["numba"] and not seen["numba_after_int64"]
    assert seen["other_types"] and seen["numba_after_other"]
    assert seen["dispatcher"] == "CPUDispatcher"  # (the module's functions are numba's)
    assert not index.exists()  # (built again by the next run, those arrays included)
    missed = native.missed_path(index).read_text().split()
    assert len(missed) == 1 and missed[0].startswith(f"cep.fast.order.in_time_order|{other}[")
    assert not _run(calls, tmp_path)["native"]

    assert in_time_order(ts.astype(other), 0)  # (what that run compiled, here too)
    assert nativebuild.build(folder, only={"cep.fast.order.in_time_order"})
    assert native.covers_missed(index)  # (so the build count starts again)
    assert not native.missed_path(index).exists()


def test_an_incomplete_native_module_is_not_used(tmp_path: Path) -> None:
    """An index without its module (or a module without its index: a build under way)
    loads nothing, and raises nothing."""
    library, index = native.paths(tmp_path)
    index.write_text(json.dumps({"functions": {}}), encoding="utf-8")
    assert native.load(tmp_path) is None
    index.unlink()
    library.write_bytes(b"not a module")
    assert native.load(tmp_path) is None


def test_a_build_that_serves_every_missed_call_lets_later_builds_start(
    tmp_path: Path,
) -> None:
    """Argument types met after a build drop the module; its next build counts as a
    try until it serves them, so a machine that meets new types now and then is not
    left on numba for good, and one whose build keeps missing them stops trying."""
    _library, index = native.paths(tmp_path)
    entries = {"cep.m.f": [["int64[1Cwa]", "f0"]], "cep.m.g": [["float64", "f1"]]}
    index.write_text(json.dumps({"functions": entries, "left_out": ["cep.m.h|bool"]}))
    assert native.covers_missed(index)  # (nothing missed)
    missed = native.missed_path(index)
    missed.write_text("cep.m.f|int64[1Cwa]\ncep.m.h|bool\n")
    assert native.covers_missed(index) and not missed.exists()
    missed.write_text("cep.m.f|int64[1Cwa]\ncep.m.f|int32[1Cwa]\n")
    assert not native.covers_missed(index) and missed.exists()
    index.write_text("not json")
    assert not native.covers_missed(index)
    index.unlink()
    assert not native.covers_missed(index)


def test_a_run_asks_for_a_build_until_one_is_made_or_three_were_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails (no Python headers, say) is not tried by every run after it."""
    monkeypatch.setenv("CEP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CEP_NATIVE", "1")
    folder = jit.cache_folder()
    assert folder is not None
    folder.mkdir(parents=True)
    library, index = native.paths(folder)
    builds = library.with_suffix(".builds")
    wanted = nativebuild.any_compiler()
    assert nativebuild.native_wanted() == wanted
    builds.write_text(str(nativebuild.MAX_BUILDS - 1))
    assert nativebuild.native_wanted() == wanted
    builds.write_text(str(nativebuild.MAX_BUILDS))
    assert not nativebuild.native_wanted()
    builds.unlink()
    index.write_text("{}")  # (one is there)
    assert not nativebuild.native_wanted()
    monkeypatch.setenv("CEP_NATIVE", "0")
    index.unlink()
    assert not nativebuild.native_wanted()
