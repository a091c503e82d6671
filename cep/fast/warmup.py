"""A first run's compiling: in the background for `--engine auto`, in two processes at
once for `--engine fast`.

In the background: where numba's cache holds no kernel, `cep run --engine auto` (the
default) starts a detached process (`start_background_compile`) that compiles the kernel
and the readers of every format into the cache, and runs on the interpreter meanwhile
(`cep.service.promote` moves it to the fast path once that process is done). A lock
file in the cache folder, holding that process's id, says a compile is under way, so
that runs started meanwhile start no other.

For `--engine fast`: numba compiles a function in the thread that first calls it,
holding the GIL, so compiling on threads gains nothing. When numba's cache holds no
kernel yet (`cep.fast.cache.kernel_cached`), `cep run` starts a helper process that
reads a small made-up input of the rules' event types in the run's format (so numba
compiles the reader and caches it: `python -m cep.fast.warmup`), while it compiles the
kernel itself over made-up events; then it waits for the helper and reads the real
input with the reader loaded from the cache. Whatever the made-up data leaves
uncompiled is compiled when first used, as without the helper.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (imported when a helper starts: a run that starts none goes without)
    import subprocess

#: a made-up value of each declared kind (other kinds are left out)
_VALUES: dict[str, Any] = {
    "str": "a",
    "int": 1,
    "float": 1.5,
    "bool": True,
    "time": 1_700_000_000_000,
    "duration": 1_000,
}
_WAIT_S = 600  # the helper is waited for at most this long
FORMATS = ("jsonl", "csv", "parquet", "arrow")
_LOCK = "compiling.lock"


def made_up_records(schemas: Mapping[str, Any], type_field: str, time_field: str) -> list[dict]:
    """Three records of each event type with a schema, a value in each field of a kind
    a column holds, times rising."""
    records = []
    for k in range(3):
        for name, schema in schemas.items():
            record: dict[str, Any] = {type_field: name, time_field: 1_700_000_000_000 + k}
            for field, info in schema.fields.items():
                if info.type.kind in _VALUES and field not in record:
                    record[field] = _VALUES[info.type.kind]
            records.append(record)
    return records


def start_reader_compile(
    paths: list[str], rule_names: list[str] | None, fmt: str, type_field: str, time_field: str
) -> subprocess.Popen | None:
    """The helper process compiling the reader of `fmt` for these rules; None where it
    cannot be started (the run then compiles everything itself)."""
    import subprocess

    job = {"paths": paths, "rules": rule_names, "format": fmt, "type_field": type_field,
           "time_field": time_field}  # fmt: skip
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cep.fast.warmup", json.dumps(job)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None


def wait_for(helper: subprocess.Popen | None) -> None:
    """Wait for the helper (stopped if it takes too long: the run compiles the rest)."""
    import subprocess

    if helper is None:
        return
    try:
        helper.wait(timeout=_WAIT_S)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()


def compile_kernel(rules: list[Any], schemas: Mapping[str, Any]) -> None:
    """Run the rules on the fast path over made-up events (numba compiles the kernel and
    what it calls, and caches them)."""
    from cep.fast.engine import FastEngine
    from cep.runtime.event import Event

    engine = FastEngine(rules, as_text=True)
    for record in made_up_records(schemas, "type", "ts"):
        fields = {k: v for k, v in record.items() if k not in ("type", "ts")}
        engine.push(Event(record["type"], record["ts"], fields))
    engine.finish(flush=True)


#: how many of the input's first records the background compile runs the rules over
SAMPLE_RECORDS = 50_000


def run_sample(job: dict[str, Any], rules: list[Any], schemas: Mapping[str, Any]) -> None:
    """The rules on the default engine over the first records of the run's input file,
    reports written and thrown away: numba compiles what the run will use."""
    from cep.engine import EngineOptions, open_engine
    from cep.io.columnar import read_batches
    from cep.io.compressed import codec_of
    from cep.io.validation import Validator

    sample = job["sample"]
    path = sample["input"]
    if not Path(path).is_file() or (codec_of(path) and job["format"] in ("parquet", "arrow")):
        return
    options = EngineOptions(allowed_delay_ms=sample.get("allowed_delay_ms", 0), json_lines=True)
    engine = open_engine(rules, schemas, options, "auto")
    batches = read_batches(
        path if not codec_of(path) else _decompressed(path),
        job["format"],
        fields=engine.fields(),
        type_field=job["type_field"],
        time_field=job["time_field"],
        time_unit=sample.get("time_unit", "ms"),
        validator=Validator(schemas),
        batch_size=8192,
    )
    read = 0
    for batch in batches:
        engine.prepare(batch)
        engine.feed_lines(batch)
        read += len(batch) + len(batch.rejects)
        if read >= SAMPLE_RECORDS:
            break
    engine.finish_lines(flush=True)
    engine.stats()  # (the summary's counts)


def _decompressed(path: str) -> Any:
    from cep.io.compressed import Decompressed, codec_of

    return Decompressed(path, codec_of(path) or "gzip")


def compile_readers(job: dict[str, Any]) -> None:
    """The helper's work: the reader of the job's format over a made-up input of its
    rules' event types."""
    import tempfile

    from cep.api import load_rules
    from cep.fast.engine import ColumnarRun
    from cep.io.columnar import read_batches
    from cep.io.validation import Validator
    from cep.lang.checker import check_paths

    checked = check_paths(job["paths"])
    rules = load_rules(checked, job["rules"])
    fields = ColumnarRun(rules, checked.schemas).fields()
    type_field, time_field = job["type_field"], job["time_field"]
    records = made_up_records(checked.schemas, type_field, time_field)
    with tempfile.TemporaryDirectory(prefix="cep-warmup-") as folder:
        path = Path(folder) / f"made-up.{job['format']}"
        _write(path, job["format"], records)
        options = {"fields": fields, "type_field": type_field, "time_field": time_field,
                   "validator": Validator(checked.schemas)}  # fmt: skip
        for _ in read_batches(str(path), job["format"], **options):
            pass


def _write(path: Path, fmt: str, records: list[dict]) -> None:
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return
    if fmt == "csv":
        names = list(dict.fromkeys(name for record in records for name in record))
        rows = [",".join(names)]
        rows += [",".join(_cell(r.get(name)) for name in names) for r in records]
        path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
        return
    import pyarrow as pa

    table = pa.Table.from_pylist(records)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lock_path() -> Path | None:
    from cep.jit import cache_folder

    folder = cache_folder()
    return None if folder is None else folder / _LOCK


def compiling() -> bool:
    """Whether a background compile is under way (its lock names a live process)."""
    return lock_held(_lock_path())


def lock_held(path: Path | None) -> bool:
    """Whether the lock file `path` names a live process."""
    if path is None:
        return False
    try:
        pid = int(path.read_text() or 0)
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # (it died without removing its lock)
    except OSError:
        pass  # (alive, but another user's)
    return True


def take_lock(path: Path) -> bool:
    """Make the lock file `path`, naming this process; False where a live process
    holds it (a dead one's is taken over)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if lock_held(path):
            return False
        path.unlink(missing_ok=True)  # (a dead process's lock)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False  # (another took it over first)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def start_background_compile(
    paths: list[str],
    rule_names: list[str] | None,
    fmt: str,
    type_field: str,
    time_field: str,
    sample: dict[str, Any] | None = None,
) -> bool:
    """Start a detached process compiling the kernel and the readers of every format
    (the run's format first) into numba's cache; False where none can run: caching is
    off (each process would compile again), or one is already under way. `sample`
    (`input`, `time_unit`, `allowed_delay_ms`) names the run's input file: its first
    records are run too, so that what only real data reaches (reports, partition keys
    of real values) is compiled as well."""
    if _lock_path() is None or compiling():
        return False
    job = {"paths": paths, "rules": rule_names, "format": fmt, "type_field": type_field,
           "time_field": time_field, "background": True, "sample": sample}  # fmt: skip
    return start_detached("cep.fast.warmup", job)


def start_detached(module: str, job: dict[str, Any], env: dict[str, str] | None = None) -> bool:
    """Run `python -m module JOB` detached (its own session: a Ctrl-C of the run leaves
    it working; no standard streams), with `env` added to this process's environment;
    whether it started."""
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(job)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=None if env is None else {**os.environ, **env},
        )
    except OSError:
        return False
    return True


def compile_in_background(job: dict[str, Any]) -> None:
    """The background process's work, under the lock (another holding it: nothing)."""
    path = _lock_path()
    if path is None or not take_lock(path):
        return
    try:
        from cep.api import load_rules
        from cep.lang.checker import check_paths

        checked = check_paths(job["paths"])
        rules = load_rules(checked, job["rules"])
        compile_kernel(rules, checked.schemas)
        if job.get("sample"):
            with contextlib.suppress(Exception):  # (a head start only)
                run_sample(job, rules, checked.schemas)
        first = job["format"]
        for fmt in (first, *(f for f in FORMATS if f != first)):
            with contextlib.suppress(Exception):  # (a format that fails compiles when used)
                compile_readers({**job, "format": fmt})
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    JOB = json.loads(sys.argv[1])
    if JOB.get("background"):
        compile_in_background(JOB)
    else:
        compile_readers(JOB)
