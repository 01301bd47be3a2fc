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
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import yaml

from harness.errors import HarnessError

UTF8_BOM = b"\xef\xbb\xbf"
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
def read_bytes(path: str | Path, what: str = "", error: type[HarnessError] = HarnessError) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{_where(path, what)}: {os_reason(exc)}") from None


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
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise error(f"{_where(path, what)}: {os_reason(exc)}") from None
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


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target: a reader
    sees the old file or the new one, never half of one. The file gets the umask's mode."""
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
        os.replace(tmp, path)
        tmp = None
    except FileExistsError:  # mkdir: a part of the folder path is a file
        raise HarnessError(f"cannot write {path}: a part of the path is a file, not a folder; check the path") from None
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {os_reason(exc)}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
