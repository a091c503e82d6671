"""What the `cep` program loads before it reads: only its command's modules, numba only
for compiled code, and the methods `dataclasses` writes compiled once
(`cep.methodcode`), with the same classes and the same output either way."""

from __future__ import annotations

import dataclasses
import json
import marshal
import os
import subprocess
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from unittest import mock

import pytest

from cep import methodcode
from cep.methodcode import MethodCode

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules" / "payments.cep"
EVENTS = [
    {"type": "Payment", "ts": 1000 + i, "user": "u1", "amount": 10.0 + i, "status": "failed",
     "country": "DE", "card": "c1"}
    for i in range(3)
]  # fmt: skip

#: runs `cep` (`argv` from the command line) as its program does, then prints which
#: modules it had imported, as JSON, on the last line of standard output
_LOADED = """
import gc, json, os, sys
from cep import cli
sys.argv = ["cep", *sys.argv[1:]]
importing = []  # collections while the command's module is not yet all imported
def collection(phase, info):
    module = sys.modules.get("cep.commands.run")
    if phase == "start" and not hasattr(module, "cmd_run"):
        importing.append(info["generation"])
gc.callbacks.append(collection)
try:
    status = cli.console()
finally:
    sys.stdout.flush()
    print(json.dumps({"status": status, "modules": sorted(sys.modules),
                      "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "collector": gc.isenabled(), "importing": importing}))
"""


def _loaded(tmp_path: Path, *argv: str, **env_vars: str) -> tuple[int, set[str]]:
    """The exit status of `cep argv` and the modules it imported."""
    seen = _seen(tmp_path, *argv, **env_vars)
    return seen["status"], set(seen["modules"])


def _seen(tmp_path: Path, *argv: str, **env_vars: str) -> dict:
    """What `_LOADED` printed of `cep argv` (`env_vars` added to its environment)."""
    env = {**os.environ, "CEP_CACHE_DIR": str(tmp_path / "cache"), "CEP_NATIVE": "0"}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.update(env_vars, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    return path


def test_a_command_imports_its_own_modules_only(tmp_path: Path) -> None:
    status, modules = _loaded(tmp_path, "check", str(RULES))
    assert status == 0
    assert "cep.lang.checker" in modules
    others = {"cep.commands.run", "cep.commands.serve", "cep.commands.test", "cep.api"}
    assert not others & modules
    assert "cep.engine" not in modules and "numpy" not in modules


def test_the_program_asks_openblas_for_no_threads_unless_told(tmp_path: Path) -> None:
    assert _seen(tmp_path, "check", str(RULES))["threads"] == "1"
    assert _seen(tmp_path, "check", str(RULES), OPENBLAS_NUM_THREADS="3")["threads"] == "3"


def test_the_program_collects_no_garbage_while_it_imports(tmp_path: Path) -> None:
    """Importing a command's modules makes tens of thousands of lasting objects: the
    program holds the collector off until they are in (some fifty collections of the
    youngest generation otherwise), and turns it on again for the command's work."""
    seen = _seen(
        tmp_path, "run", str(RULES), "--input", str(_events(tmp_path)), "--engine",
        "interpreter", "--output", str(tmp_path / "matches.jsonl"), "--quiet",
    )  # fmt: skip
    assert seen["status"] == 0
    assert seen["importing"] == []
    assert seen["collector"] is True


def test_an_interpreter_run_without_a_native_module_does_without_numba(tmp_path: Path) -> None:
    """Reading JSON lines needs no compiled code there: NumPy cuts the lines."""
    output = tmp_path / "matches.jsonl"
    status, modules = _loaded(
        tmp_path, "run", str(RULES), "--input", str(_events(tmp_path)), "--engine",
        "interpreter", "--output", str(output), "--quiet",
    )  # fmt: skip
    assert status == 0
    assert "numba" not in modules
    assert "cep.commands.serve" not in modules
    matches = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(m["rule"], m["fields"]["total"]) for m in matches] == [("three_failed_payments", 33)]


def test_a_fast_run_over_json_lines_does_without_pyarrow(tmp_path: Path) -> None:
    """Nothing of JSON lines is Arrow data: writing reports (their whole-number fields
    included) must not import pyarrow, a tenth of a CPU-second."""
    from cep.cache import cache_root

    output = tmp_path / "matches.jsonl"
    root = cache_root()  # (numba's machine code as the suite left it: no compile here)
    status, modules = _loaded(
        tmp_path, "run", str(RULES), "--input", str(_events(tmp_path)), "--engine", "fast",
        "--output", str(output), "--quiet", CEP_CACHE_DIR=str(root or tmp_path / "cache"),
    )  # fmt: skip
    assert status == 0
    assert "cep.engine.fast" in modules and "pyarrow" not in modules
    matches = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(m["rule"], m["fields"]["total"]) for m in matches] == [("three_failed_payments", 33)]
    assert any(type(value) is int for value in matches[0]["fields"].values())


def _run(tmp_path: Path, output: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CEP_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "cep", "run", str(RULES), "--input", str(_events(tmp_path)),
         "--engine", "interpreter", "--output", str(output)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip


def test_the_program_keeps_the_method_code_and_runs_the_same_with_it(tmp_path: Path) -> None:
    first = _run(tmp_path, tmp_path / "first.jsonl")
    kept = tmp_path / "cache" / methodcode.cache_path().name  # type: ignore[union-attr]
    assert kept.is_file()
    written = kept.stat().st_mtime_ns
    second = _run(tmp_path, tmp_path / "second.jsonl")
    assert kept.stat().st_mtime_ns == written  # (nothing new to add)
    assert (tmp_path / "first.jsonl").read_bytes() == (tmp_path / "second.jsonl").read_bytes()
    assert first.stderr == second.stderr
    assert (tmp_path / "first.jsonl").read_text().count("\n") == 1


def _point(kept: MethodCode) -> type:
    """A frozen, slotted dataclass with defaults, made through `kept`."""
    with mock.patch.object(dataclasses, "exec", kept.exec, create=True):

        @dataclasses.dataclass(frozen=True, slots=True)
        class Point:
            x: int
            y: int = 2
            tags: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    return Point


def test_a_class_made_from_kept_code_is_the_class_compiled_afresh(tmp_path: Path) -> None:
    path = tmp_path / "methods.marshal"
    fresh = MethodCode(path)
    made = _point(fresh)
    assert fresh.added
    fresh.write()
    kept = MethodCode(path)
    with mock.patch("builtins.compile", side_effect=AssertionError("compiled again")):
        again = _point(kept)
    assert not kept.added
    for cls in (made, again):
        point = cls(1, tags=("a",))
        assert repr(point) == "_point.<locals>.Point(x=1, y=2, tags=('a',))"
        assert point == cls(1, 2, ("b",)) and point != cls(2)
        assert hash(point) == hash(cls(1, 2))
        with pytest.raises(dataclasses.FrozenInstanceError):
            point.x = 3  # type: ignore[misc]
        assert [f.name for f in dataclasses.fields(cls)] == ["x", "y", "tags"]
        assert dataclasses.replace(point, y=5).y == 5


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not marshal",
        MAGIC_NUMBER + b"\xff\x00",
        MAGIC_NUMBER + marshal.dumps({"text": 1}),
        b"\x00\x00\r\n" + marshal.dumps({"text": compile("", "<string>", "exec")}),
        MAGIC_NUMBER + marshal.dumps({"text": compile("", "<string>", "exec")}),
    ],
    ids=["empty", "text", "bad marshal", "not code", "other magic", "code not marshalled"],
)
def test_an_unreadable_method_file_means_compiling(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "methods.marshal"
    path.write_bytes(content)
    kept = MethodCode(path)
    assert kept.codes == {}
    assert _point(kept)(1).y == 2
    kept.write()
    assert MethodCode(path).codes.keys() == kept.codes.keys()


def test_a_kept_text_whose_code_does_not_load_is_compiled_again(tmp_path: Path) -> None:
    path = tmp_path / "methods.marshal"
    fresh = MethodCode(path)
    _point(fresh)
    fresh.write()
    spoiled = {text: b"\xff" for text in fresh.codes}
    path.write_bytes(MAGIC_NUMBER + marshal.dumps(spoiled))
    kept = MethodCode(path)
    assert kept.codes.keys() == fresh.codes.keys()
    point = _point(kept)
    assert kept.added and kept.codes == fresh.codes
    assert repr(point(1)) == "_point.<locals>.Point(x=1, y=2, tags=())"


def test_no_cache_folder_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEP_CACHE_DIR", "")
    assert methodcode.cache_path() is None
    assert methodcode.keep_method_code() is None
