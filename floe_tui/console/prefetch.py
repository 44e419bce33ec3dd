"""The first-paint snapshot: from the cache when the manifests are unchanged, else from a helper.

`floe-tui` makes a `PlanPrefetch` before it imports Textual. If the snapshot cached by an earlier
launch still matches every manifest file (path, modification time and size), the first tree is
painted from it and no compiler is loaded at all. Otherwise ``python -m floe_tui.console.snapshot
PATH`` compiles the manifests in a second process, on the other core, while Textual starts, and
its snapshot is cached for the next launch. Either way the console compiles the real plan right
after the first paint, so a snapshot that is wrong for any other reason (a plugin installed or
removed since) is on screen for a moment only.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from floe_tui import __version__
from floe_tui.console.files import atomic_write_text, cache_dir
from floe_tui.paths import manifest_files

if TYPE_CHECKING:
    from floe_tui.planmodel import PlanModel

#: Bumped when the cached snapshot's shape changes; a cache of another format is a miss.
CACHE_FORMAT = f"2/{__version__}"

Signature = dict[str, tuple[int, int]]


def manifest_signature(root: Path, known_files: Iterable[Path] = ()) -> Signature:
    """(modification time, size) of every manifest under `root` (or `root` itself) and of
    `known_files` (the files a plan read, links out of `root` among them).

    Files that cannot be read are left out, so a deleted file changes the signature too.
    """
    listed = manifest_files(str(root)) if root.is_dir() else [str(root)]
    found: Signature = {}
    for path in [*listed, *map(str, known_files)]:
        if path not in found:
            try:
                stat = os.stat(path)
            except OSError:
                continue
            found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


class SnapshotCache:
    """One file per manifests path: a header line (identity, signature, length), then the snapshot's JSON."""

    def __init__(self, manifests: Path, directory: Path | None = None) -> None:
        # The snapshot holds paths as the user gave them (the title shows them): `acme` and
        # `/home/me/acme` are two entries. The signature itself holds absolute paths.
        self.root = manifests.resolve()
        self.identity = {"format": CACHE_FORMAT, "root": str(self.root), "given": str(manifests)}
        # zlib's checksums name the file, not hashlib, which loads OpenSSL (4 ms before the first
        # paint; zlib is loaded already). Two paths with the same name cost a cache miss, never a
        # wrong tree: `read` checks the identity in the header.
        key = f"{self.root}\0{manifests}".encode()
        self.path = (
            (directory or cache_dir()) / "snapshots" / f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}.json"
        )

    def read(self) -> str | None:
        """The cached snapshot's JSON if every file it was made from is unchanged, else None."""
        try:
            with self.path.open(encoding="utf-8") as cached:
                header = json.loads(cached.readline())
                if any(header.get(key) != value for key, value in self.identity.items()):
                    return None
                stored = {path: (int(mtime), int(size)) for path, (mtime, size) in header["files"].items()}
                if manifest_signature(self.root, map(Path, stored)) != stored:
                    return None
                snapshot = cached.readline()
                return snapshot if len(snapshot) == header["length"] else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # no cache, or one we cannot trust: compile instead

    def write(self, snapshot_json: str, snapshot: PlanModel) -> None:
        """Best effort: a cache that cannot be written costs the next launch time, nothing else."""
        signature = manifest_signature(self.root, {path.resolve() for path in snapshot.level_files()})
        line = snapshot_json.strip() + "\n"
        header = {**self.identity, "files": signature, "length": len(line)}
        with contextlib.suppress(OSError):
            atomic_write_text(self.path, f"{json.dumps(header)}\n{line}")


class PlanPrefetch:
    def __init__(self, manifests: Path, cache_directory: Path | None = None) -> None:
        self.manifests = manifests
        self._cache = SnapshotCache(manifests, cache_directory)
        self._cached = self._cache.read()
        self.from_cache = self._cached is not None
        self._process: subprocess.Popen[bytes] | None = None
        if self._cached is None:
            with contextlib.suppress(OSError):  # no helper: the console compiles by itself
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "floe_tui.console.snapshot", str(manifests)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,  # never onto the console's terminal
                )

    def cached_now(self, max_chars: int) -> PlanModel | None:
        """The cached snapshot, taken now if it is there and at most `max_chars` long (loading it
        takes about a millisecond per 50 KiB); else None, and `result` gives it later."""
        cached = self._cached
        if cached is None or len(cached) > max_chars:
            return None
        return self.result()

    def result(self, timeout: float = 30.0) -> PlanModel | None:
        """The snapshot, or None if there is none (the console then compiles by itself).

        Blocks: call it on a worker thread, never the UI's.
        """
        cached, self._cached = self._cached, None
        if cached is not None:
            snapshot = self._load(cached)
            if snapshot is None:  # damaged in place: let the next launch compile and cache again
                self._cache.path.unlink(missing_ok=True)
            return snapshot
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return None
        if process.returncode != 0:
            return None
        text = out.decode("utf-8", errors="replace")
        snapshot = self._load(text)
        if snapshot is not None:
            self._cache.write(text, snapshot)
        return snapshot

    @staticmethod
    def _load(text: str) -> PlanModel | None:
        from floe_tui.console.snapshot import load

        try:
            return load(json.loads(text))
        except (ValueError, KeyError, TypeError):
            return None

    def cancel(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
