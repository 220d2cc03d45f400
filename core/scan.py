"""The asynchronous inventory scan: walk the stores, parse off the event loop, stream events.

:class:`Scanner` walks every store in a thread, parses files in a process pool (or a thread
for small trees), and yields events the UI renders as they arrive: stores discovered,
certificates found or updated, unreadable files, progress, and finally the finished
:class:`~core.model.Inventory`.  A scanner remembers what it parsed: rescanning an unchanged
tree only stats the files.

Parsing is CPU-bound in ``cryptography``, which holds the GIL, so threads do not speed it up;
a two-process pool does (``benchmarks/scan_bench.py`` measures both).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import fnmatch
import gc
import multiprocessing
import operator
import os
import pickle
import pwd
import stat
import threading
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeAlias, cast

from core import __version__
from core.analysis import DeclaredUse, analyse, declared_uses
from core.consumers import ConsumerScan, LocalFS, find_consumers
from core.findings import basic_findings, sort_findings, time_state
from core.fsutil import atomic_write, ensure_private_dir
from core.model import (
    CertFacts,
    CertificateRecord,
    Consumer,
    CrlFile,
    Finding,
    Inventory,
    Location,
    PrivateKeyInfo,
    Store,
    StoreKind,
    Unreadable,
)
from core.parse import CERT_LIKE_SUFFIXES, FoundKey, parse_bytes, quiet_warnings
from core.rootfs import RootFS, SymlinkLoop, printable_path
from core.settings import Settings
from core.stores import StorePlan, plan_stores

__all__ = [
    "CertificatesFound",
    "FilesUnreadable",
    "ScanEvent",
    "ScanFinished",
    "ScanProgress",
    "Scanner",
    "StoreDiscovered",
    "default_cache_path",
    "load_parse_cache",
    "save_parse_cache",
    "scan",
]


@dataclass(frozen=True, slots=True)
class StoreDiscovered:
    """A store will be scanned."""

    store: Store


@dataclass(frozen=True, slots=True)
class CertificatesFound:
    """Certificates found or changed (new location, key); replace earlier records by sha256."""

    records: tuple[CertificateRecord, ...]


@dataclass(frozen=True, slots=True)
class FilesUnreadable:
    """Files or folders that could not be read or parsed."""

    items: tuple[Unreadable, ...]


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """How far the scan is: files parsed out of files seen so far."""

    files_done: int
    files_seen: int
    walking: bool


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """The scan is complete; the inventory is final."""

    inventory: Inventory


ScanEvent: TypeAlias = (
    StoreDiscovered | CertificatesFound | FilesUnreadable | ScanProgress | ScanFinished
)

_PEEK = 65536
_BATCH = 256
_CHUNK = 128
_PROCESS_THRESHOLD = 1000
"""Files waiting to be parsed before worker processes are worth their start-up (0.15 s the
first time in a process, when the fork server imports the parser; 10 ms after that)."""


@dataclass(slots=True)
class _Job:
    path: str  # machine path as found (may be a link)
    host: str  # host path of the real file
    store: str
    symlink_to: str | None
    ident: tuple[int, int, int, int, int] | None  # dev, inode, size, mtime_ns, ctime_ns
    """``None`` until the worker that reads the file has looked at it (first scans)."""
    mode: int
    uid: int


@dataclass(slots=True)
class _Walked:
    jobs: list[_Job] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    unchanged: list[_Unchanged] = field(default_factory=list)
    """Regular files exactly as remembered (checked by the walk, no job made)."""


class _Unchanged(NamedTuple):
    """A regular file found as the last scan left it: the job it would be, and what was
    remembered of it."""

    path: str
    host: str
    store: str
    ident: tuple[int, int, int, int, int]
    mode: int
    uid: int
    cached: _Cached

    def job(self) -> _Job:
        return _Job(self.path, self.host, self.store, None, self.ident, self.mode, self.uid)


def _read(host: str) -> bytes | str:
    """A file's bytes, or why it cannot be read.

    ``os.read`` on a descriptor: half the cost of ``open().read()``, which builds a buffered
    file object around every small file.
    """
    try:
        fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        data = os.read(fd, _READ_SIZE)
        while True:
            more = os.read(fd, _READ_SIZE)
            if not more:
                return data
            data += more
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)


_READ_SIZE = 65536

_Stat: TypeAlias = tuple[tuple[int, int, int, int, int], int, int]
"""What the walk learns from ``stat``: identity (as in :class:`_Job`), mode and owner."""

_Looked: TypeAlias = _Stat | Literal[False] | None
"""What a worker learned about a file the walk did not stat: what ``stat`` says when it read
the file, ``False`` when the walk would have left the file out (not a regular file, or larger
than the limit: the result is then the reason to report, if any), else ``None``."""


def _read_unseen(
    host: str, name: str, limit: int, folder: _Folder
) -> tuple[bytes | str | None, _Looked]:
    """Read a file the walk only listed, with the checks the walk makes on the files it
    stats: a regular file, not larger than ``limit``.

    Returns the bytes or why there are none (an ``str`` to report, ``None`` for a large file
    that is no certificate material), and what was learned about the file (see _Looked).
    """
    try:
        # Non-blocking: should the file have become a named pipe, opening it must not wait.
        fd = folder.open(host, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except PermissionError:
        return "permission denied", None
    except OSError as exc:
        return exc.strerror or str(exc), None
    try:
        st = os.fstat(fd)
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            return _not_regular(mode), False
        if st.st_size > limit:
            if name.lower().endswith(CERT_LIKE_SUFFIXES) or b"-----BEGIN " in os.read(fd, _PEEK):
                return _too_large(st.st_size, limit), False
            return None, False
        # One byte more than the size: a shorter answer is the end of the file, no need to
        # ask again (a file that grew meanwhile is read to its new end).
        data = os.read(fd, st.st_size + 1)
        if len(data) > st.st_size:
            while more := os.read(fd, _READ_SIZE):
                data += more
    except OSError as exc:
        return exc.strerror or str(exc), None
    finally:
        os.close(fd)
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return data, (ident, stat.S_IMODE(mode), st.st_uid)


class _Folder:
    """The folder of the files being read, held open: a batch lists a folder's files one
    after the other, and opening a name in an open folder skips the lookup of the path up
    to it (a fifth of the cost of opening)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.fd = -1

    def open(self, host: str, flags: int) -> int:
        parent, _, name = host.rpartition("/")
        if parent != self.path:
            self.close()
            self.path = parent
            try:
                self.fd = os.open(parent or "/", _FOLDER_FLAGS)
            except OSError:
                self.fd = -1
        if self.fd < 0:
            return os.open(host, flags)
        return os.open(name, flags, dir_fd=self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        self.path = None


_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

# O_PATH: a folder one may look up names in but not list still serves (Linux).
_FOLDER_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


def _not_regular(mode: int) -> str:
    kind = (
        "socket"
        if stat.S_ISSOCK(mode)
        else "named pipe"
        if stat.S_ISFIFO(mode)
        else "device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "special file"
    )
    return f"not a regular file ({kind}); not read"


def _too_large(size: int, limit: int) -> str:
    return f"skipped: {_size(size)} is larger than scan.max_file_size ({_size(limit)})"


_PackedCert: TypeAlias = tuple[tuple[Any, ...], int, str]
"""A certificate in a file: the fields of its :class:`CertFacts`, its position and format."""


_Parsed: TypeAlias = tuple[
    tuple[_PackedCert, ...], tuple[FoundKey, ...], bool, tuple[str, ...], bool
]
"""What a file holds, as the scan keeps it: :class:`ParsedFile`'s fields (certificates,
keys, PKCS#12, problems, revocation list) as a plain tuple, the certificates' facts too (a
worker process sends plain tuples several times faster than named tuples; a
:class:`CertFacts` is made once per certificate, not once per file)."""


class _Checks(NamedTuple):
    """What a worker needs to judge a certificate on its own: the time and the checks."""

    now: datetime
    expiring_days: int
    min_rsa_bits: int
    min_ec_bits: int


_Judged: TypeAlias = tuple[int, tuple[Finding, ...]]
"""A certificate's time state and basic findings, for a certificate stored in one file."""

_Result: TypeAlias = tuple[_Parsed, tuple[_Judged, ...] | None] | str | None
"""What a worker returns for one file: what it holds and the judgement of each certificate;
``None`` for a file that holds nothing of interest (most of ``/etc``); an ``str`` says why
the file cannot be read."""

_NO_STORES: set[str] = set()


def _parse_files(
    items: Sequence[tuple[str, str, bool, int | None]], checks: _Checks | None = None
) -> list[tuple[_Result, _Looked]]:
    """Read and parse files (in a worker process or thread).

    Args:
        items: host path, file name, whether the file is in a trust store and, for a file
            the walk did not stat, the size limit (the file is then checked here and what
            ``stat`` says comes back with its result).
        checks: with them, each certificate is also judged as if it were stored in this
            file alone, which it usually is: the records are then ready to be made.
    """
    out: list[tuple[_Result, _Looked]] = []
    folder = _Folder()
    try:
        for host, name, anchor, limit in items:
            seen: _Looked = None
            if limit is None:
                data: bytes | str | None = _read(host)
            else:
                data, seen = _read_unseen(host, name, limit, folder)
            if data is None or isinstance(data, str):
                out.append((data, seen))
                continue
            certs, keys, pkcs12, problems, crl = parse_bytes(data, name=name)
            if not (certs or keys or pkcs12 or problems or crl):
                out.append((None, seen))
                continue
            judged: tuple[_Judged, ...] | None = None
            if checks is not None and certs:
                judged = tuple([_judge(c.facts, anchor, checks) for c in certs])
            packed = (
                tuple([(tuple(c.facts), c.position, c.format) for c in certs]),
                keys,
                pkcs12,
                problems,
                crl,
            )
            out.append(((packed, judged), seen))
    finally:
        folder.close()
    return out


def _judge(facts: CertFacts, anchor: bool, checks: _Checks) -> _Judged:
    now = checks.now
    found = basic_findings(
        facts,
        (),  # one location makes no duplicate
        now=now,
        expiring_days=checks.expiring_days,
        min_rsa_bits=checks.min_rsa_bits,
        min_ec_bits=checks.min_ec_bits,
        trust_anchor=anchor,
        trust_stores=_NO_STORES,
    )
    return time_state(facts, now, checks.expiring_days), sort_findings(found) if found else ()


def _worker_init() -> None:
    # Workers inherit nothing from the UI; keep their output quiet and their priority low so
    # the interface stays responsive while they parse.
    with contextlib.suppress(OSError):
        os.nice(5)
    quiet_warnings()


def _worker_main(conn: Connection) -> None:
    """A worker process: parse the batches that come through ``conn``, answer in order."""
    _worker_init()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the scanner went away
            return
        if request is None:
            return
        items, checks = request
        try:
            reply: tuple[bool, object] = (True, _parse_files(items, checks))
        except Exception as exc:  # a bug: report it to the scan rather than die silently
            reply = (False, f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class _Worker:
    """One worker process, its pipe and the answers it owes, oldest first."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.owed: collections.deque[asyncio.Future[list[tuple[_Result, _Looked]]]] = (
            collections.deque()
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.alive = True


class _Pool:
    """Worker processes fed through one pipe each and read by the event loop.

    Leaner than ``ProcessPoolExecutor``, which feeds and collects through two threads of
    this process: they compete with the event loop and the walk for the interpreter lock
    and hand every result over between threads.  Here the event loop writes each batch to
    a worker's pipe and reads the answer when the pipe is readable.
    """

    def __init__(self, processes: int) -> None:
        # forkserver: forking a process that runs threads (UI, walker) is unsafe.
        ctx = multiprocessing.get_context("forkserver")
        # The server imports what the workers run once; each worker starts ready.
        ctx.set_forkserver_preload(["core.scan"])
        self.workers: list[_Worker] = []
        try:
            for _ in range(processes):
                mine, theirs = ctx.Pipe()
                process = ctx.Process(
                    target=_worker_main, args=(theirs,), name="certdeck-worker", daemon=True
                )
                process.start()
                theirs.close()
                self.workers.append(_Worker(process, mine))
            for worker in self.workers:  # every worker answers once it is ready
                worker.conn.send(([], None))
                worker.conn.recv()
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return any(w.alive for w in self.workers)

    def submit(
        self,
        loop: asyncio.AbstractEventLoop,
        items: list[tuple[str, str, bool, int | None]],
        checks: _Checks,
    ) -> asyncio.Future[list[tuple[_Result, _Looked]]]:
        """Send a batch to the least busy worker; the future resolves with its results."""
        future: asyncio.Future[list[tuple[_Result, _Looked]]] = loop.create_future()
        alive = [w for w in self.workers if w.alive]
        if not alive:
            future.set_exception(RuntimeError("the worker processes stopped"))
            return future
        worker = min(alive, key=lambda w: len(w.owed))
        if worker.loop is not loop:
            if worker.loop is not None and not worker.loop.is_closed():
                worker.loop.remove_reader(worker.conn.fileno())
            loop.add_reader(worker.conn.fileno(), self._answer, worker)
            worker.loop = loop
        try:
            worker.conn.send((items, checks))
        except OSError as exc:
            self._lost(worker, exc)
            future.set_exception(RuntimeError(f"a worker process stopped: {exc}"))
            return future
        worker.owed.append(future)
        return future

    def _answer(self, worker: _Worker) -> None:
        try:
            ok, value = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._lost(worker, exc)
            return
        future = worker.owed.popleft()
        if future.done() or future.get_loop().is_closed():  # a scan stopped meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(RuntimeError(f"parsing failed in a worker process: {value}"))

    def _lost(self, worker: _Worker, exc: BaseException) -> None:
        worker.alive = False
        if worker.loop is not None and not worker.loop.is_closed():
            worker.loop.remove_reader(worker.conn.fileno())
        while worker.owed:
            future = worker.owed.popleft()
            if not future.done() and not future.get_loop().is_closed():
                future.set_exception(RuntimeError(f"a worker process stopped: {exc}"))

    def close(self) -> None:
        """Ask the workers to stop; they end once their current batch is done."""
        for worker in self.workers:
            if worker.loop is not None and not worker.loop.is_closed():
                with contextlib.suppress(Exception):
                    worker.loop.remove_reader(worker.conn.fileno())
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.conn.close()
            worker.alive = False
        processes = [w.process for w in self.workers]

        def reap() -> None:
            for process in processes:
                process.join(5)
                if process.is_alive():
                    process.terminate()

        threading.Thread(target=reap, name="certdeck-reap", daemon=True).start()


class _Walker:
    """Walks the stores in a thread and hands batches of jobs to the event loop."""

    def __init__(
        self,
        fs: RootFS,
        plans: list[StorePlan],
        exclude: Sequence[str],
        max_size: int,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[_Walked | None],
        stat_files: bool = True,
        cache: dict[str, _Cached] | None = None,
    ) -> None:
        self.fs = fs
        self.plans = plans
        # Without anything remembered to compare with, regular files are only listed: the
        # worker that reads a file also checks it (one system call fewer per file here).
        self.stat_files = stat_files
        self.cache = cache or {}
        self.exclude = tuple(exclude)
        self.max_size = max_size
        self.loop = loop
        self.queue = queue
        self.stop = threading.Event()
        self.store_paths = {p.store.path for p in plans}
        self.visited: set[tuple[int, int]] = set()
        self.batch = _Walked()

    def run(self) -> None:
        try:
            for plan in self.plans:
                if self.stop.is_set():
                    return
                self._walk_store(plan)
            self._flush()
        finally:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)

    def _flush(self) -> None:
        if self.batch.jobs or self.batch.unreadable or self.batch.unchanged:
            batch, self.batch = self.batch, _Walked()
            self.loop.call_soon_threadsafe(self.queue.put_nowait, batch)

    def _report(self, path: str, reason: str) -> None:
        self.batch.unreadable.append(Unreadable(printable_path(path), reason))

    def _excluded(self, path: str) -> bool:
        return bool(self.exclude) and any(fnmatch.fnmatchcase(path, pat) for pat in self.exclude)

    def _walk_store(self, plan: StorePlan) -> None:
        store = plan.store
        try:
            real = self.fs.resolve(store.path)
            st = os.stat(self.fs.host(real))
        except SymlinkLoop:
            self._report(store.path, "symbolic link loop")
            return
        except FileNotFoundError:
            if store.kind is not StoreKind.TRUST:
                self._report(store.path, "does not exist")
            return
        except OSError as exc:
            self._report(store.path, exc.strerror or str(exc))
            return
        if stat.S_ISDIR(st.st_mode):
            self._walk_dir(store.name, store.path, real)
        else:
            link = real if real != store.path else None
            self._file(store.name, store.path, real, link, st)
        self._flush()

    def _walk_dir(self, store: str, top: str, top_real: str) -> None:
        stack = [(top, top_real)]
        while stack and not self.stop.is_set():
            shown, real = stack.pop()
            host = self.fs.host(real)
            listed = self._list(shown, host)
            if listed is None:
                continue
            fd, entries = listed
            try:
                self._entries(store, shown, real, host, entries, stack)
            finally:
                os.close(fd)
            if len(self.batch.jobs) >= _BATCH or len(self.batch.unchanged) >= 16 * _BATCH:
                self._flush()

    def _list(self, shown: str, host: str) -> tuple[int, list[os.DirEntry[str]]] | None:
        """Open and list a folder not visited yet (``None``: visited, or reported).

        The folder stays open for the caller: entries listed from a descriptor are looked
        up relative to it, much cheaper than from the root for each file.
        """
        try:
            fd = os.open(host, _LIST_FLAGS)
        except OSError as exc:
            try:  # a folder one cannot list is reported once, however many paths lead to it
                dst = os.stat(host)
                if (dst.st_dev, dst.st_ino) in self.visited:
                    return None
                self.visited.add((dst.st_dev, dst.st_ino))
            except OSError:
                pass
            self._unlistable(shown, exc)
            return None
        try:
            dst = os.fstat(fd)
            if (dst.st_dev, dst.st_ino) not in self.visited:
                self.visited.add((dst.st_dev, dst.st_ino))
                return fd, list(os.scandir(fd))
        except OSError as exc:
            self._unlistable(shown, exc)
        os.close(fd)
        return None

    def _unlistable(self, shown: str, exc: OSError) -> None:
        if isinstance(exc, PermissionError):
            self._report(shown, "permission denied: the folder cannot be listed")
        else:
            self._report(shown, f"the folder cannot be listed: {exc.strerror or exc}")

    def _entries(
        self,
        store: str,
        shown: str,
        real: str,
        host: str,
        entries: list[os.DirEntry[str]],
        stack: list[tuple[str, str]],
    ) -> None:
        store_paths = self.store_paths
        exclude = self.exclude
        max_size = self.max_size
        stat_files = self.stat_files
        cache = self.cache
        entries.sort(key=_entry_name, reverse=True)
        prefix = shown.rstrip("/") + "/"
        real_prefix = real.rstrip("/") + "/"
        host_prefix = host.rstrip("/") + "/"
        jobs = self.batch.jobs
        unchanged = self.batch.unchanged
        for entry in entries:
            path = prefix + entry.name
            if path in store_paths or (exclude and self._excluded(path)):
                continue
            try:
                if entry.is_symlink():
                    self._link(store, path, stack)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((path, real_prefix + entry.name))
                elif not stat_files and entry.is_file(follow_symlinks=False):
                    jobs.append(_Job(path, host_prefix + entry.name, store, None, None, 0, 0))
                else:
                    st = entry.stat(follow_symlinks=False)
                    mode = st.st_mode
                    if stat.S_ISREG(mode) and st.st_size <= max_size:
                        ident = (
                            st.st_dev,
                            st.st_ino,
                            st.st_size,
                            st.st_mtime_ns,
                            st.st_ctime_ns,
                        )
                        hit = cache.get(path)
                        if (
                            hit is not None
                            and hit.ident == ident
                            and hit.store == store
                            and hit.symlink_to is None
                        ):
                            unchanged.append(
                                _Unchanged(
                                    path,
                                    host_prefix + entry.name,
                                    store,
                                    ident,
                                    mode & 0o7777,
                                    st.st_uid,
                                    hit,
                                )
                            )
                        else:
                            jobs.append(
                                _Job(
                                    path,
                                    host_prefix + entry.name,
                                    store,
                                    None,
                                    ident,
                                    mode & 0o7777,
                                    st.st_uid,
                                )
                            )
                    else:
                        self._file(store, path, "", None, st, host_prefix + entry.name)
            except OSError as exc:
                self._report(path, exc.strerror or str(exc))

    def _link(self, store: str, path: str, stack: list[tuple[str, str]]) -> None:
        try:
            target = self.fs.resolve(path)
            st = os.stat(self.fs.host(target))
        except SymlinkLoop:
            self._report(path, "symbolic link loop")
            return
        except FileNotFoundError:
            if path.lower().endswith(CERT_LIKE_SUFFIXES):
                self._report(path, "broken symbolic link: the target does not exist")
            return
        if target in self.store_paths:
            return
        if stat.S_ISDIR(st.st_mode):
            stack.append((path, target))
        else:
            self._file(store, path, target, target, st)

    def _file(
        self,
        store: str,
        path: str,
        real: str,
        link: str | None,
        st: os.stat_result,
        host: str = "",
    ) -> None:
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            self._report(path, _not_regular(mode))
            return
        host = host or self.fs.host(real)
        if st.st_size > self.max_size:
            if self._looks_like_material(host, path):
                self._report(path, _too_large(st.st_size, self.max_size))
            return
        self.batch.jobs.append(
            _Job(
                path,
                host,
                store,
                link,
                (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns),
                stat.S_IMODE(mode),
                st.st_uid,
            )
        )

    @staticmethod
    def _looks_like_material(host: str, path: str) -> bool:
        if path.lower().endswith(CERT_LIKE_SUFFIXES):
            return True
        try:
            with open(host, "rb") as fh:
                head = fh.read(_PEEK)
        except OSError:
            return False
        return b"-----BEGIN " in head


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _size(n: int) -> str:
    """A byte count the way people read it: 812 bytes, 4.9 KiB, 12.0 MiB."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


@dataclass(slots=True)
class _CertState:
    facts: CertFacts
    locations: list[Location] = field(default_factory=list)
    anchor: bool = False
    record: CertificateRecord | None = None
    """The record made for these locations and this anchor flag (``None``: out of date)."""
    judged: _Judged | None = None
    """Time state and findings judged by the worker that parsed it, valid while the
    certificate has one location."""
    order: tuple[str, str] = ("", "")
    """Where its record goes in the inventory: by name as people read it, then fingerprint."""

    def __post_init__(self) -> None:
        self.order = (self.facts.display_name.casefold(), self.facts.sha256)


class _Aggregator:
    """Merges parsed files into records, one per certificate."""

    def __init__(
        self,
        fs: RootFS,
        trust_stores: set[str],
        anchor_stores: set[str],
        previous: dict[str, tuple[int, CertificateRecord]] | None = None,
        *,
        now: datetime,
        settings: Settings,
    ) -> None:
        self.fs = fs
        self.now = now
        self.settings = settings
        self.previous = previous or {}
        self.made: dict[str, tuple[int, CertificateRecord]] = {}
        self.trust_stores = trust_stores
        self.anchor_stores = anchor_stores
        self.certs: dict[str, _CertState] = {}
        self.keys: dict[str, list[PrivateKeyInfo]] = defaultdict(list)
        self.all_keys: list[PrivateKeyInfo] = []
        self.pkcs12: list[Store] = []
        self.crls: list[CrlFile] = []
        self.unreadable: list[Unreadable] = []

    @staticmethod
    def locations(job: _Job, certs: tuple[_PackedCert, ...]) -> tuple[Location, ...]:
        """The locations a file contributes (cached with the parsed file for rescans)."""
        shown = printable_path(job.path)
        link = printable_path(job.symlink_to) if job.symlink_to else None
        store = job.store
        host = job.host
        return tuple([Location(store, shown, i, fmt, link, host) for _, i, fmt in certs])

    def fresh(self, job: _Job, result: _Result, changed: list[str]) -> _Cached | None:
        """Merge a file just parsed; return what to remember of it (``None``: nothing, the
        file could not be read or was not looked at)."""
        ident = job.ident
        if result is None:
            return None if ident is None else _Cached(ident, job.store, job.symlink_to, None, ())
        if isinstance(result, str):
            self.unreadable.append(Unreadable(printable_path(job.path), result))
            return None
        parsed, judged = result
        certs = parsed[0]
        if len(certs) == 1 and not (parsed[1] or parsed[2] or parsed[3] or parsed[4]):
            # The common file: one certificate and nothing else, most often a new one.
            fields, position, fmt = certs[0]
            link = job.symlink_to
            location = Location(
                job.store,
                printable_path(job.path),
                position,
                fmt,
                printable_path(link) if link else None,
                job.host,
            )
            locations: tuple[Location, ...] = (location,)
            sha256 = fields[0]
            if sha256 not in self.certs:
                self.certs[sha256] = _CertState(
                    CertFacts._make(fields),
                    [location],
                    job.store in self.anchor_stores,
                    None,
                    judged[0] if judged is not None else None,
                )
                changed.append(sha256)
            else:
                self.add(job, parsed, locations, changed)
        else:
            locations = self.locations(job, certs) if certs else ()
            self.add(job, parsed, locations, changed, judged)
        if ident is None:  # never: a file read comes with what stat says about it
            return None
        return _Cached(ident, job.store, job.symlink_to, parsed, locations)

    def add(
        self,
        job: _Job,
        parsed: _Parsed,
        locations: tuple[Location, ...],
        changed: list[str] | None,
        judged: tuple[_Judged, ...] | None = None,
    ) -> None:
        """Merge one file; add the fingerprints whose records changed to ``changed``."""
        certs_found, keys, pkcs12, problems, crl = parsed
        anchor = job.store in self.anchor_stores
        certs = self.certs
        for n, ((fields, _, _), location) in enumerate(zip(certs_found, locations, strict=True)):
            sha256 = fields[0]
            state = certs.get(sha256)
            if state is None:
                state = certs[sha256] = _CertState(
                    CertFacts._make(fields),
                    [location],
                    anchor,
                    None,
                    judged[n] if judged is not None else None,
                )
            else:
                state.locations.append(location)
                state.record = None
                if anchor:
                    state.anchor = True
            if changed is not None:
                changed.append(sha256)
        if keys or pkcs12 or problems or crl:
            self._add_rest(job, keys, pkcs12, problems, crl)

    def _add_rest(
        self,
        job: _Job,
        keys: tuple[FoundKey, ...],
        pkcs12: bool,
        problems: tuple[str, ...],
        crl: bool,
    ) -> None:
        shown = printable_path(job.path)
        for key in keys:
            info = PrivateKeyInfo(
                path=shown,
                mode=f"{job.mode:04o}",
                encrypted=key.encrypted,
                format=key.format,
                owner=_owner(job.uid),
                public_key_sha256=key.public_key_sha256,
                os_path=job.host,
            )
            self.all_keys.append(info)
            if key.public_key_sha256:
                self.keys[key.public_key_sha256].append(info)
        if pkcs12:
            self.pkcs12.append(Store(f"PKCS#12 {shown}", StoreKind.PKCS12, shown))
        if crl:
            self.crls.append(CrlFile(shown, job.host))
        for problem in problems:
            self.unreadable.append(Unreadable(shown, problem))

    def same_time_states(
        self, records: Iterable[CertificateRecord], now: datetime, expiring_days: int
    ) -> bool:
        """Whether the records' time states (see :func:`time_state`) are the same at ``now``."""
        made = self.made
        return all(time_state(r.cert, now, expiring_days) == made[r.sha256][0] for r in records)

    def record(self, sha256: str) -> CertificateRecord:
        """The record of a certificate as merged so far (made again only when needed)."""
        return self.record_of(self.certs[sha256])

    def record_of(self, state: _CertState) -> CertificateRecord:
        """The record of a merged certificate (made again only when needed)."""
        sha256 = state.order[1]
        made = state.record
        if made is not None and not self.keys:  # keys only ever add up: none then, none now
            return made
        key = self._key_for(state.facts, state.locations)
        if made is not None and made.private_key == key:
            return made
        if len(state.locations) == 1:
            locations: tuple[Location, ...] = (state.locations[0],)
        else:
            locations = tuple(sorted(state.locations, key=lambda loc: (loc.path, loc.index)))
        anchor = state.anchor
        now = self.now
        checks = self.settings.checks
        judged = state.judged if len(locations) == 1 else None
        if judged is not None:
            when, found = judged
        else:
            when = time_state(state.facts, now, checks.expiring_days)
        prev = self.previous.get(sha256)
        if prev is not None:
            old_when, old = prev
            if (
                old_when == when
                and old.locations == locations
                and old.private_key == key
                and old.trust_anchor == anchor
            ):
                self.made[sha256] = prev
                state.record = old
                return old
        if judged is None:
            findings = basic_findings(
                state.facts,
                locations,
                now=now,
                expiring_days=checks.expiring_days,
                min_rsa_bits=checks.min_rsa_bits,
                min_ec_bits=checks.min_ec_bits,
                trust_anchor=anchor,
                trust_stores=self.trust_stores,
            )
            found = sort_findings(findings) if findings else ()
        record = CertificateRecord(
            cert=state.facts,
            locations=locations,
            private_key=key,
            findings=found,
            trust_anchor=anchor,
        )
        self.made[sha256] = (when, record)
        state.record = record
        return record

    def _key_for(self, facts: CertFacts, locations: Sequence[Location]) -> PrivateKeyInfo | None:
        candidates = self.keys.get(facts.public_key_sha256)
        if not candidates:
            return None
        paths = {loc.path for loc in locations}
        folders = {loc.path.rsplit("/", 1)[0] for loc in locations}

        def rank(k: PrivateKeyInfo) -> tuple[int, str]:
            if k.path in paths:
                return 0, k.path
            if k.path.rsplit("/", 1)[0] in folders:
                return 1, k.path
            return 2, k.path

        return min(candidates, key=rank)


_ORDER = operator.attrgetter("order")


_GC_THRESHOLD = 500_000
"""The collector's first threshold while scans run: a scan of 10,000 files stays below it."""
_gc_lock = threading.Lock()
_gc_scans = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _long_lived_objects() -> Iterator[None]:
    """Keep the garbage collector off what scans make, and file it as old when they end.

    A scan makes some twenty objects per file, nearly all of them kept (records, the parse
    cache) and none in reference cycles.  The collector would walk them again and again: with
    the default thresholds its full collections took half of the scanning process's time at
    10,000 files, and even rare young collections a tenth.  While scans run it waits for many
    more new objects (it still runs, should a scan be left unfinished and this never end);
    when the last scan ends, what was made goes straight to the oldest generation.  Objects
    someone else froze (the permanent generation not empty) are left alone.
    """
    global _gc_scans, _gc_saved
    with _gc_lock:
        if _gc_scans == 0:
            saved = gc.get_threshold()
            if 0 < saved[0] < _GC_THRESHOLD:
                _gc_saved = saved
                gc.set_threshold(_GC_THRESHOLD, saved[1], saved[2])
        _gc_scans += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_scans -= 1
            if _gc_scans == 0:
                if gc.get_freeze_count() == 0:
                    gc.freeze()  # every tracked object to the permanent generation ...
                    gc.unfreeze()  # ... and back, into the oldest one, uncollected
                if _gc_saved is not None:
                    gc.set_threshold(*_gc_saved)
                    _gc_saved = None


_OWNERS: dict[int, str] = {}


def _owner(uid: int) -> str:
    name = _OWNERS.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _OWNERS[uid] = name
    return name


@dataclass(frozen=True, slots=True)
class _LastScan:
    """The merged result of the last scan, reused when nothing changed since."""

    settings: Settings
    files: int
    walk_unreadable: tuple[Unreadable, ...]
    agg: _Aggregator
    final: tuple[CertificateRecord, ...]
    now: datetime
    """The evaluation time the records were judged at."""


class _Cached(NamedTuple):
    """One file as the last scan saw it: identity, store, link, content, locations."""

    ident: tuple[int, int, int, int, int]
    store: str
    symlink_to: str | None
    parsed: _Parsed | None
    locations: tuple[Location, ...]


class Scanner:
    """Scans a machine (or a tree under a root) and remembers parsed files for rescans.

    Args:
        root: the folder treated as the machine's ``/``.
        settings: scan paths, exclusions, size limit, checks and trust anchors.
        parallel: ``"auto"`` (a process pool when there are many files to parse),
            ``"process"`` or ``"thread"``.
        settings_path: the settings file, named as the source of declared consumers.
        cache_path: a file that keeps what was parsed between runs (see
            :func:`default_cache_path`): reopening an unchanged tree parses nothing.
        analyse: add consumers, trust verdicts and the findings that need them; without it
            the inventory holds what the certificates and their files tell (benchmarks).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = "/",
        *,
        settings: Settings | None = None,
        parallel: str = "auto",
        processes: int | None = None,
        settings_path: str | os.PathLike[str] | None = None,
        analyse: bool = True,
        cache_path: Path | None = None,
    ) -> None:
        self.fs = RootFS(root)
        self.settings_path = settings_path
        self.analyse = analyse
        self.cache_path = cache_path
        self._cache_loaded = cache_path is None
        self.settings = settings if settings is not None else Settings()
        self.parallel = parallel
        self.processes = processes or min(4, os.cpu_count() or 1)
        # Per machine path: what the file was (identity, store, link) and what it held.
        self._cache: dict[str, _Cached] = {}
        self._records: dict[str, tuple[int, CertificateRecord]] = {}
        self._records_settings: Settings | None = None
        self._last: _LastScan | None = None
        self._links: dict[tuple[str, str, bool], str | None] = {}
        self._analysed: (
            tuple[
                object,
                tuple[CertificateRecord, ...],
                tuple[CertificateRecord, ...],
                tuple[Consumer, ...],
            ]
            | None
        ) = None
        self._pool_ready: concurrent.futures.Future[_Pool] | None = None
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="certdeck-parse"
        )

    def close(self) -> None:
        """Stop the worker processes and threads."""
        if self._pool_ready is not None:
            with contextlib.suppress(Exception):
                self._pool_ready.result(timeout=30).close()
            self._pool_ready = None
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_pool(self) -> None:
        """Start the worker processes in the background; parsing goes on in a thread meanwhile.

        Starting processes takes up to 0.15 s; doing it on the event loop would freeze the
        UI, so a thread starts them and the pool is used once every worker answered.
        """
        if self._pool_ready is not None:
            return
        ready: concurrent.futures.Future[_Pool] = concurrent.futures.Future()
        self._pool_ready = ready

        def start() -> None:
            try:
                ready.set_result(_Pool(self.processes))
            except BaseException as exc:  # no processes here (sandbox): threads it is
                ready.set_exception(exc)

        threading.Thread(target=start, name="certdeck-pool", daemon=True).start()

    def _executor(self) -> tuple[_Pool | None, int]:
        """The worker pool to use now (``None``: the parsing thread) and how many batches
        should be in flight: two per worker, so that none waits for its next batch."""
        ready = self._pool_ready
        if ready is not None and ready.done() and ready.exception() is None:
            pool = ready.result()
            if pool.alive:
                return pool, 2 * len(pool.workers)
        return None, 2

    async def scan(self, *, now: datetime) -> Inventory:
        """Scan to the end and return the finished inventory."""
        # Closed here rather than whenever the event loop gets to it: the garbage collector
        # resumes with the result.
        events = cast("AsyncGenerator[ScanEvent, None]", self.events(now=now, stream_records=False))
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, ScanFinished):
                    return event.inventory
        raise RuntimeError("scan ended without a result")  # pragma: no cover

    async def events(
        self, *, now: datetime, stream_records: bool = True
    ) -> AsyncIterator[ScanEvent]:
        """Scan and yield events as they happen; cancel by closing the iterator.

        Args:
            now: the evaluation time.
            stream_records: yield :class:`CertificatesFound` while scanning (for a UI that
                shows rows as they arrive); without it only the final inventory carries them.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        with _long_lived_objects():
            async for event in self._events(now, stream_records):
                yield event

    async def _events(self, now: datetime, stream_records: bool) -> AsyncIterator[ScanEvent]:
        loop = asyncio.get_running_loop()
        settings = self.settings
        plans, found, declared = await asyncio.to_thread(self._plan)
        stores = [p.store for p in plans]
        for store in stores:
            yield StoreDiscovered(store)
        trust = {s.name for s in stores if s.kind is StoreKind.TRUST}
        # Records are reused only when nothing that shapes them changed, settings included.
        previous = self._records if self._records_settings is settings else None
        agg = _Aggregator(self.fs, trust, trust, previous, now=now, settings=settings)
        queue: asyncio.Queue[_Walked | None] = asyncio.Queue()
        cache = self._cache
        walker = _Walker(
            self.fs,
            plans,
            settings.scan.exclude,
            settings.scan.max_file_size,
            loop,
            queue,
            stat_files=bool(cache),
            cache=cache,
        )
        thread = threading.Thread(target=walker.run, name="certdeck-walk", daemon=True)
        thread.start()

        seen = done = 0
        walking = True
        pending: dict[asyncio.Future[list[tuple[_Result, _Looked]]], list[_Job]] = {}
        # Files reached by several paths (links) are parsed once: by device and inode.
        parsed_now: dict[tuple[int, int], _Result] = {}
        waiting: dict[tuple[int, int], _Job] = {}
        also: dict[tuple[int, int], list[_Job]] = {}  # more paths to a file being parsed
        fresh_cache: dict[str, _Cached] = {}
        to_parse = 0
        backlog: collections.deque[list[_Job]] = collections.deque()
        if self.parallel == "process":
            self._start_pool()
            with contextlib.suppress(Exception):  # falls back to threads
                await asyncio.wrap_future(self._pool_ready)  # type: ignore[arg-type]

        # Unchanged files are merged at the end: when nothing at all changed, the last
        # scan's merged result is reused as it is.
        deferred: list[_Unchanged | tuple[_Job, _Cached]] = []
        walk_unreadable: list[Unreadable] = []
        fresh = 0
        # Records are made as files arrive, while the workers parse the next ones; a record
        # that a later file changes (another location, a key) is made again at the end.
        changed: list[str] = []
        records_of = agg.record
        limits = settings.checks
        checks = _Checks(now, limits.expiring_days, limits.min_rsa_bits, limits.min_ec_bits)

        merge = agg.fresh

        try:
            while walking or pending or backlog:
                self._submit(
                    loop, backlog, pending, checks, trust, walking, settings.scan.max_file_size
                )
                if walking:
                    getter = asyncio.ensure_future(queue.get())
                    wait_for: set[asyncio.Future[Any]] = {getter, *pending}
                else:
                    getter = None
                    wait_for = set(pending)
                finished, _ = await asyncio.wait(wait_for, return_when=asyncio.FIRST_COMPLETED)
                if getter is not None and getter not in finished:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                if getter is not None and getter in finished:
                    batch = getter.result()
                    if batch is None:
                        walking = False
                    else:
                        unreadable_before = len(agg.unreadable)
                        agg.unreadable.extend(batch.unreadable)
                        walk_unreadable.extend(batch.unreadable)
                        seen += len(batch.jobs) + len(batch.unchanged)
                        for kept in batch.unchanged:
                            fresh_cache[kept.path] = kept.cached
                        deferred += batch.unchanged
                        done += len(batch.unchanged)
                        todo: list[_Job] = []
                        for job in batch.jobs:
                            if job.ident is None:  # not stat'ed: nothing to compare yet
                                todo.append(job)
                                continue
                            dev_ino = job.ident[:2]
                            hit = cache.get(job.path)
                            if (
                                hit is not None
                                and hit.ident == job.ident
                                and hit.store == job.store
                                and hit.symlink_to == job.symlink_to
                            ):
                                fresh_cache[job.path] = hit
                                deferred.append((job, hit))
                                done += 1
                            elif dev_ino in parsed_now:
                                entry = merge(job, parsed_now[dev_ino], changed)
                                if entry is not None:
                                    fresh_cache[job.path] = entry
                                fresh += 1
                                done += 1
                            elif dev_ino in waiting:
                                also.setdefault(dev_ino, []).append(job)
                            else:
                                waiting[dev_ino] = job
                                todo.append(job)
                        for i in range(0, len(todo), _CHUNK):
                            backlog.append(todo[i : i + _CHUNK])
                        to_parse += len(todo)
                        if (
                            self.parallel == "auto"
                            and self.processes > 1
                            and to_parse - done >= _PROCESS_THRESHOLD
                        ):
                            self._start_pool()
                        if len(agg.unreadable) > unreadable_before:
                            yield FilesUnreadable(tuple(agg.unreadable[unreadable_before:]))
                for done_fut in [f for f in pending if f in finished]:
                    jobs = pending.pop(done_fut)
                    results = done_fut.result()
                    unreadable_before = len(agg.unreadable)
                    for job, (result, looked) in zip(jobs, results, strict=True):
                        if job.ident is None:
                            if looked is False:  # left out, as the walk leaves such files
                                seen -= 1
                                done -= 1
                                fresh -= 1
                                if isinstance(result, str):
                                    report = Unreadable(printable_path(job.path), result)
                                    agg.unreadable.append(report)
                                    walk_unreadable.append(report)
                                continue
                            if looked is not None:
                                job.ident, job.mode, job.uid = looked
                                parsed_now[job.ident[:2]] = result
                            entry = merge(job, result, changed)
                            if entry is not None:
                                fresh_cache[job.path] = entry
                            continue
                        dev_ino = job.ident[:2]
                        parsed_now[dev_ino] = result
                        del waiting[dev_ino]
                        entry = merge(job, result, changed)
                        if entry is not None:
                            fresh_cache[job.path] = entry
                        for same in also.pop(dev_ino, ()) if also else ():
                            entry = merge(same, result, changed)
                            if entry is not None:
                                fresh_cache[same.path] = entry
                            fresh += 1
                            done += 1
                    fresh += len(jobs)
                    done += len(jobs)
                    if len(agg.unreadable) > unreadable_before:
                        yield FilesUnreadable(tuple(agg.unreadable[unreadable_before:]))
                if changed:
                    made = tuple([records_of(s) for s in dict.fromkeys(changed)])
                    changed.clear()
                    if stream_records:
                        yield CertificatesFound(made)
                yield ScanProgress(done, seen, walking)
        finally:
            walker.stop.set()
            for fut in pending:
                fut.cancel()
        self._cache = fresh_cache
        if self.cache_path is not None and (fresh or len(fresh_cache) != len(deferred)):
            await asyncio.to_thread(save_parse_cache, self.cache_path, self.fs.root, fresh_cache)
        last = self._last
        days = settings.checks.expiring_days
        if (
            last is not None
            and fresh == 0
            and last.settings is settings
            and last.files == len(deferred)
            and last.walk_unreadable == tuple(walk_unreadable)
            and (now == last.now or last.agg.same_time_states(last.final, now, days))
        ):
            agg, final = last.agg, last.final  # nothing changed since the last scan
        else:
            for item in deferred:
                if isinstance(item, _Unchanged):
                    job, hit = item.job(), item.cached
                else:
                    job, hit = item
                if hit.parsed is not None:
                    agg.add(job, hit.parsed, hit.locations, None)
            final = tuple([agg.record_of(s) for s in sorted(agg.certs.values(), key=_ORDER)])
            self._records = agg.made
            self._records_settings = settings
            self._last = _LastScan(
                settings, len(fresh_cache), tuple(walk_unreadable), agg, final, now
            )
        analysed: tuple[CertificateRecord, ...] = final
        consumers: tuple[Consumer, ...] = ()
        if self.analyse:
            analysed, consumers = await asyncio.to_thread(
                self._analyse, final, tuple(agg.all_keys), found, declared, now
            )
        inventory = Inventory(
            root=self.fs.root,
            evaluated_at=now,
            stores=tuple(stores) + tuple(agg.pkcs12),
            certificates=analysed,
            unreadable=tuple(sorted(agg.unreadable, key=lambda u: (u.path, u.reason))),
            private_keys=tuple(agg.all_keys),
            files_scanned=seen,
            consumers=consumers,
            crl_files=tuple(sorted(agg.crls, key=lambda c: c.path)),
        )
        if self.analyse and inventory.crl_files:
            # Imported here: the revocation module brings the HTTP client, which scanning
            # without CRL files (and the worker processes) never needs.
            from core.revocation import apply_local_crls

            inventory = await asyncio.to_thread(apply_local_crls, inventory)
        yield ScanFinished(inventory)

    def _plan(self) -> tuple[list[StorePlan], ConsumerScan, list[DeclaredUse]]:
        """Stores to scan, the services' file uses and the declared consumers (in a thread).

        Files the services use are scanned too, wherever they are.
        """
        if not self._cache_loaded and self.cache_path is not None:
            self._cache_loaded = True
            self._cache = load_parse_cache(self.cache_path, self.fs.root)
        settings = self.settings
        found = find_consumers(LocalFS(Path(self.fs.root)))
        text = ""
        if self.settings_path:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = Path(self.settings_path).read_text(encoding="utf-8")
        declared = declared_uses(settings.consumers, str(self.settings_path or ""), text)
        plans = plan_stores(
            self.fs,
            default_locations=settings.scan.default_locations,
            extra_paths=settings.scan.paths,
            anchor_paths=settings.trust.anchors,
        )
        covered = [p.store.path for p in plans]
        referenced = [u.path for u in found.uses] + [f for d in declared for f in d.setting.files]
        for path in dict.fromkeys(referenced):
            if any(path == c or path.startswith(c.rstrip("/") + "/") for c in covered):
                continue
            if self.fs.exists(path):
                plans.append(StorePlan(Store(path, StoreKind.BUNDLE, path), is_file=True))
                covered.append(path)
        return plans, found, declared

    def _analyse(
        self,
        records: tuple[CertificateRecord, ...],
        keys: tuple[PrivateKeyInfo, ...],
        found: ConsumerScan,
        declared: list[DeclaredUse],
        now: datetime,
    ) -> tuple[tuple[CertificateRecord, ...], tuple[Consumer, ...]]:
        """Consumers, trust and clean-up findings; reused when none of the inputs changed."""
        inputs = (found, tuple(declared), keys)
        last = self._analysed
        if (
            last is not None
            and last[0] == inputs
            and len(last[1]) == len(records)
            and all(a is b for a, b in zip(last[1], records, strict=True))
        ):
            return last[2], last[3]

        def exists(path: str) -> bool:
            return self.fs.exists(path)

        result, consumers = analyse(
            records,
            private_keys=keys,
            uses=found.uses,
            problems=found.problems,
            declared=declared,
            now=now,
            resolve=self.fs.resolve,
            exists=exists,
            links=self._links,
        )
        self._analysed = (inputs, records, result, consumers)
        return result, consumers

    def _submit(
        self,
        loop: asyncio.AbstractEventLoop,
        backlog: collections.deque[list[_Job]],
        pending: dict[asyncio.Future[list[tuple[_Result, _Looked]]], list[_Job]],
        checks: _Checks,
        anchors: set[str],
        walking: bool,
        max_size: int,
    ) -> None:
        """Hand batches to the best executor available, keeping only a few in flight.

        Batches wait here rather than in an executor's queue so that, once the worker
        processes are up, the rest of the work goes to them.  A parsing thread starts only
        once the walk is over: it would hold the interpreter lock the walking thread needs
        after each of its system calls, and slow the walk down many times.
        """
        pool, limit = self._executor()
        if walking and pool is None:
            return
        while backlog and len(pending) < limit:
            jobs = backlog.popleft()
            items = [
                (
                    j.host,
                    j.path.rsplit("/", 1)[-1],
                    j.store in anchors,
                    None if j.ident is not None else max_size,
                )
                for j in jobs
            ]
            if pool is not None:
                pending[pool.submit(loop, items, checks)] = jobs
            else:
                pending[loop.run_in_executor(self._threads, _parse_files, items, checks)] = jobs


_CACHE_FORMAT = 2


def default_cache_path(root: str | os.PathLike[str]) -> Path:
    """Where the parse cache of a root lives: the user's cache folder, one file per root."""
    import hashlib

    import platformdirs

    name = hashlib.sha256(os.path.abspath(os.fspath(root)).encode()).hexdigest()[:16]
    return platformdirs.user_cache_path("certdeck") / f"parsed-{name}.pickle"


def load_parse_cache(path: Path, root: str) -> dict[str, _Cached]:
    """The parsed files remembered from an earlier run; empty when absent or unusable.

    The file is only trusted when this user owns it and nobody else can write it (it is a
    pickle); anything unexpected is ignored and the tree is parsed again.
    """
    try:
        st = path.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return {}
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        if not isinstance(data, dict) or data.get("format") != (_CACHE_FORMAT, __version__):
            return {}
        if data.get("root") != root or not isinstance(data.get("entries"), dict):
            return {}
        entries: dict[str, _Cached] = data["entries"]
        return entries
    except Exception:  # a missing, truncated or foreign cache is simply not used
        return {}


def save_parse_cache(path: Path, root: str, entries: dict[str, _Cached]) -> None:
    """Remember the parsed files for the next run (atomically, readable by this user only)."""
    data = {"format": (_CACHE_FORMAT, __version__), "root": root, "entries": entries}
    with contextlib.suppress(OSError):
        ensure_private_dir(path.parent)
        atomic_write(
            path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), mode=0o600, overwrite=True
        )


async def scan(
    root: str | os.PathLike[str] = "/",
    *,
    now: datetime,
    settings: Settings | None = None,
    parallel: str = "auto",
    settings_path: str | os.PathLike[str] | None = None,
    cache_path: Path | None = None,
) -> Inventory:
    """Scan a machine (or a tree under ``root``) and return the finished inventory."""
    scanner = Scanner(
        root,
        settings=settings,
        parallel=parallel,
        settings_path=settings_path,
        cache_path=cache_path,
    )
    try:
        return await scanner.scan(now=now)
    finally:
        scanner.close()


def replace_records(inventory: Inventory, records: Iterable[CertificateRecord]) -> Inventory:
    """A copy of the inventory with these records replacing those of the same fingerprint."""
    by_sha = inventory.by_sha256()
    for r in records:
        by_sha[r.sha256] = r
    return replace(inventory, certificates=tuple(by_sha.values()))
