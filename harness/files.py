"""The one path through which the harness reads and writes its files.

Every read of a spec, record, data file or predict input, and every write of a record, image,
leaderboard, report or baseline goes through here, so that an operating-system or decoding
failure (a missing file, a folder where a file was expected, a permission, bytes that are not
UTF-8, a YAML mapping with a key written twice) becomes one `HarnessError` line that names the
file, the line where there is one, and what to do, instead of a traceback.

Writes are atomic (a temp file in the same folder, fsync, rename) and made with the process
umask, like any file the user's shell would create: `tempfile.mkstemp` alone makes 0600 files
that nobody else on a shared results folder can read.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import yaml

from harness.errors import HarnessError

UTF8_BOM = b"\xef\xbb\xbf"
# A name that becomes one path component (task, model, config hash, trial id): no separator, no
# leading dot (so never '.', '..' or a hidden file), printable ASCII only. Checked once, in the
# record schema and the spec models, before any path is built from it.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$"
PACKAGE_DIR = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Where the built-in registry file or folder `name` (tasks, models.yaml, suites.yaml) is:
    in `harness/_data/` inside an installed wheel (pyproject's force-include puts it there), else
    at the top of the source tree, where people who clone (and editable installs) edit it."""
    shipped = PACKAGE_DIR / "_data" / name
    return shipped if shipped.exists() else PACKAGE_DIR.parent / name


# --------------------------------------------------------------------------- reasons
def os_reason(exc: OSError) -> str:
    """What an OSError means for the user, and what to do about it."""
    if isinstance(exc, FileNotFoundError):
        return "does not exist; check the path"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file; give a file path"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a file, not a folder; check the path"
    if isinstance(exc, PermissionError):
        return "permission denied; check the file's and its folder's permissions (ls -l) or run as their owner"
    return f"cannot be read or written ({exc.strerror or exc})"


def decode_reason(data: bytes, exc: UnicodeDecodeError) -> str:
    """'line N: not UTF-8 text (byte b'\\xe9')...': the line of the first bad byte, counted in `data`."""
    line = data.count(b"\n", 0, exc.start) + 1
    return f"line {line}: not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r}); save the file as UTF-8"


def _where(path: Path, what: str) -> str:
    return f"{what} {path}" if what else str(path)


# --------------------------------------------------------------------------- reading
def _open_regular(path: Path, what: str, error: type[HarnessError]) -> int:
    """A read-only descriptor on a regular file. Opened with O_NONBLOCK and checked with fstat, so
    that a FIFO, socket or device where a file should be is refused at once instead of waited on
    forever (a plain open() of a FIFO blocks until a writer appears)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{_where(path, what)}: {os_reason(exc)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise error(f"{_where(path, what)}: {os_reason(IsADirectoryError())}")
        raise error(f"{_where(path, what)}: is not a regular file (a FIFO, socket or device), which is never read "
                    "(it could block forever); give a regular file or move it away")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError) -> bytes:
    path = Path(path)
    fd = _open_regular(path, what, error)
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise error(f"{_where(path, what)}: {os_reason(exc)}") from None


def list_dir(folder: str | Path, what: str = "folder", error: type[HarnessError] = HarnessError) -> list[Path]:
    """The entries of a folder, sorted. A folder that cannot be listed (permission, I/O error) is
    an error naming it, never silently read as empty."""
    folder = Path(folder)
    try:
        return sorted(Path(entry.path) for entry in os.scandir(folder))
    except OSError as exc:
        raise error(f"{what} {folder}: {os_reason(exc)}") from None


class NonFiniteNumber(ValueError):
    """A NaN or infinite number in a JSON file that holds metrics: no metric can be one."""

    def __init__(self, token: str):
        super().__init__(token)
        self.token = token

    def line_in(self, text: str) -> int | None:
        return text[: text.find(self.token)].count("\n") + 1 if self.token in text else None


def _reject_constant(token: str) -> float:
    raise NonFiniteNumber(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):  # 1e999
        raise NonFiniteNumber(token)
    return value


def loads_finite(text: str) -> Any:
    """json.loads that raises NonFiniteNumber on NaN, Infinity and overflowing floats (Python's
    json module accepts them silently)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def read_json(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError, fix: str = "") -> Any:
    """The one reader of the JSON files the harness itself wrote (records, claims, baselines,
    harness.json): a regular file, UTF-8, JSON, no NaN or infinity; anything else one line naming
    the file (and line) and `fix`. The caller validates the shape (a pydantic model)."""
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    data = read_bytes(path, what, error).removeprefix(UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{_where(path, what)}, {decode_reason(data, exc)} (a damaged file?){tail}") from None
    try:
        return loads_finite(text)
    except json.JSONDecodeError as exc:
        raise error(f"{_where(path, what)}, line {exc.lineno}: not valid JSON ({exc.msg}){tail}") from None
    except NonFiniteNumber as exc:
        line = exc.line_in(text)
        at = f", line {line}" if line else ""
        raise error(f"{_where(path, what)}{at}: holds a non-finite number ({exc.token}), which no metric can be{tail}") from None
    except RecursionError:  # [[[[...]]]] a hundred thousand deep: never written by the harness
        raise error(f"{_where(path, what)}: JSON nested too deeply to be a file the harness wrote{tail}") from None


def read_text(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError) -> str:
    """The file as UTF-8 text (a leading byte-order mark dropped). `error` is the HarnessError
    subclass raised (SpecError for specs, DataError for data files)."""
    path = Path(path)
    data = read_bytes(path, what, error)
    try:
        return data.removeprefix(UTF8_BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{_where(path, what)}, {decode_reason(data.removeprefix(UTF8_BOM), exc)}") from None


@contextlib.contextmanager
def open_binary(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError) -> Iterator[IO[bytes]]:
    """A binary handle for readers that stream a large file (JSON lines); opening errors become
    HarnessError. The caller decodes line by line so that a bad byte is reported on its line."""
    path = Path(path)
    handle = os.fdopen(_open_regular(path, what, error), "rb")
    with handle:
        try:
            yield handle
        except OSError as exc:  # e.g. EIO while streaming
            raise error(f"{_where(path, what)}: {os_reason(exc)}") from None


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first_line: int, line: int):
        super().__init__(f"key '{key}' is written twice in one mapping")
        self.key, self.first_line, self.line = key, first_line, line


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects a key written twice in one mapping (PyYAML keeps the last one
    silently). Merge keys (`<<: *defaults`) may still be overridden, as YAML intends."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateKeyError(key, first, line)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError) -> Any:
    """A YAML spec file, read safely (no Python objects) and strictly (no duplicate keys)."""
    path = Path(path)
    text = read_text(path, what, error)
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise error(
            f"{_where(path, what)}, line {exc.line}: key '{exc.key}' is written twice in one mapping "
            f"(first on line {exc.first_line}); keep one"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{_where(path, what)}: not valid YAML{line}: {problem}") from None


# --------------------------------------------------------------------------- writing
def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_file(path: str | Path, what: str = "output") -> Path:
    """Fail early (before minutes of work) when `path` cannot be written as a file: it is a
    folder, a part of its folder path is a file, or its folder is not writable."""
    path = Path(path)
    if path.is_dir():
        raise HarnessError(f"{what} {path} is a folder; give a file name (inside it or elsewhere)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise HarnessError(f"{what} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HarnessError(f"{what} {path}: the folder {parent} is not writable; choose another path or fix its permissions")
    return path


def write_temp(path: str | Path, data: bytes) -> Path:
    """Write `data` to a hidden temp file beside `path`, fsync it, and return the temp's path: the
    first half of an atomic write, for callers that must do something between "the new content is
    safely on disk" and "it replaces the old" (the store supersedes the current record there). The
    temp gets the umask's mode; on any failure it is removed and a one-line HarnessError raised."""
    path = Path(path)
    if path.is_dir():
        raise HarnessError(f"cannot write {path}: it is a folder; give a file name")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        done, tmp = Path(tmp), None
        return done
    except FileExistsError:  # mkdir: a part of the folder path is a file
        raise HarnessError(f"cannot write {path}: a part of the path is a file, not a folder; check the path") from None
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {os_reason(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def commit_temp(tmp: Path, path: str | Path) -> None:
    """The second half: rename the temp over `path` (atomic on one file system), then fsync the
    folder so the rename itself survives a power loss."""
    path = Path(path)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise HarnessError(f"cannot write {path}: {os_reason(exc)}") from None
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target: a reader
    sees the old file or the new one, never half of one. The file gets the umask's mode."""
    commit_temp(write_temp(path, data), path)


def atomic_write_set(contents: dict[Path, bytes]) -> None:
    """Replace several files as a set (a leaderboard's md, csv, json and html). Every new file is
    written and fsynced to a temp first; only when all of them are on disk are they renamed into
    place, back to back. So a failed write (full disk, permission) changes none of the files and
    never leaves a mix of old and new; each file is always whole. What is not promised: a reader
    that opens two of the files during the renames (microseconds), or a kill -9 between two
    renames, can see one file new and another old; the next write of the set repairs that."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in contents.items():
            temps.append((write_temp(path, data), Path(path)))
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, path in temps:
        commit_temp(tmp, path)


def atomic_dir(target: str | Path) -> "AtomicDir":
    """A folder written as a whole: see AtomicDir."""
    return AtomicDir(Path(target))


class AtomicDir:
    """`with atomic_dir(target) as tmp:` write into `tmp` (a hidden sibling folder made with the
    umask's mode); on success it replaces `target` (the old folder, if any, is removed only after
    the new one is in place); on any failure `tmp` is removed and `target` is left as it was, so a
    full disk never leaves a half-written folder under the final name."""

    def __init__(self, target: Path):
        self.target = target
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent))
            os.chmod(self.tmp, 0o777 & ~current_umask())
        except OSError as exc:
            raise HarnessError(f"cannot write {self.target}: {os_reason(exc)}") from None
        return self.tmp

    def __exit__(self, kind, exc, tb) -> None:
        assert self.tmp is not None
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        try:
            if self.target.exists():
                old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(self.target, old)
            os.replace(self.tmp, self.target)
        except OSError as exc:
            if old is not None and not self.target.exists():
                with contextlib.suppress(OSError):
                    os.replace(old, self.target)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise HarnessError(f"cannot write {self.target}: {os_reason(exc)}") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(self.target.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
