"""On-disk cache of compiled kernel objects, so a second run does not recompile.

An entry is `<dir>/<key>.o`, where `key` hashes the LLVM IR text, the host CPU name and features
and the backend's version. The file is `MAGIC | sha256(payload) | payload` (payload = the ELF
object LLVM emitted); a file whose checksum does not match is treated as missing (the caller
rebuilds it and warns) — never loaded, since LLVM may crash on a malformed object.
Writes go to a temporary file and are renamed into place, so concurrent processes never see
a half-written entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

MAGIC = b"VTACOBJ1"
_DIGEST = 32


def cache_dir() -> Path:
    """`$VTAC_CPU_CACHE`, else `~/.cache/vtac/cpu`."""
    env = os.environ.get("VTAC_CPU_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vtac" / "cpu"


def cache_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


class ObjectCache:
    """Get/put compiled objects by key. Disabled (a no-op) when `directory` is None."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.o"

    def get(self, key: str) -> bytes | None:
        """The cached object for `key`, or None if absent or corrupt (with a warning)."""
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            warnings.warn(f"CPU kernel cache: cannot read {path} ({err}); rebuilding", stacklevel=2)
            return None
        head = len(MAGIC) + _DIGEST
        payload = blob[head:]
        if (
            len(blob) <= head
            or blob[: len(MAGIC)] != MAGIC
            or hashlib.sha256(payload).digest() != blob[len(MAGIC) : head]
        ):
            warnings.warn(f"CPU kernel cache: corrupt entry {path}; rebuilding it", stacklevel=2)
            return None
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store an object; a failure to write only warns (the cache is an optimization)."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, self._path(key))
        except OSError as err:
            warnings.warn(f"CPU kernel cache: cannot write {self.directory} ({err})", stacklevel=2)
