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
import multiprocessing
import os
import pickle
import pwd
import stat
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from core import __version__
from core.analysis import DeclaredUse, analyse, declared_uses
from core.consumers import ConsumerScan, LocalFS, find_consumers
from core.findings import basic_findings, sort_findings, time_state
from core.fsutil import atomic_write, ensure_private_dir
from core.model import (
    CertFacts,
    CertificateRecord,
    Consumer,
    Inventory,
    Location,
    PrivateKeyInfo,
    Store,
    StoreKind,
    Unreadable,
)
from core.parse import CERT_LIKE_SUFFIXES, ParsedFile, parse_bytes, quiet_warnings
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
_BATCH = 128
_CHUNK = 64
_PROCESS_THRESHOLD = 1000
"""Files waiting to be parsed before worker processes are worth their start-up (0.15 s)."""


@dataclass(slots=True)
class _Job:
    path: str  # machine path as found (may be a link)
    host: str  # host path of the real file
    store: str
    symlink_to: str | None
    ident: tuple[int, int, int, int, int]  # dev, inode, size, mtime_ns, ctime_ns
    mode: int
    uid: int


@dataclass(slots=True)
class _Walked:
    jobs: list[_Job] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def _parse_files(items: Sequence[tuple[str, str]]) -> list[ParsedFile | str]:
    """Read and parse files (runs in a worker); an ``str`` result is a read error."""
    out: list[ParsedFile | str] = []
    for host, name in items:
        try:
            with open(host, "rb") as fh:
                data = fh.read()
        except PermissionError:
            out.append("permission denied")
            continue
        except OSError as exc:
            out.append(exc.strerror or str(exc))
            continue
        out.append(parse_bytes(data, name=name))
    return out


def _worker_init() -> None:
    # Workers inherit nothing from the UI; keep their output quiet and their priority low so
    # the interface stays responsive while they parse.
    with contextlib.suppress(OSError):
        os.nice(5)
    quiet_warnings()


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
    ) -> None:
        self.fs = fs
        self.plans = plans
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
        if self.batch.jobs or self.batch.unreadable:
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
            try:
                dst = os.stat(host)
                if (dst.st_dev, dst.st_ino) in self.visited:
                    continue
                self.visited.add((dst.st_dev, dst.st_ino))
                entries = list(os.scandir(host))
            except PermissionError:
                self._report(shown, "permission denied: the folder cannot be listed")
                continue
            except OSError as exc:
                self._report(shown, f"the folder cannot be listed: {exc.strerror or exc}")
                continue
            entries.sort(key=lambda e: e.name, reverse=True)
            for entry in entries:
                path = (shown.rstrip("/") + "/" + entry.name) if shown != "/" else "/" + entry.name
                if path in self.store_paths or self._excluded(path):
                    continue
                try:
                    if entry.is_symlink():
                        self._link(store, path, stack)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append((path, (real.rstrip("/") + "/" + entry.name)))
                    else:
                        st = entry.stat(follow_symlinks=False)
                        self._file(store, path, "", None, st, entry.path)
                except OSError as exc:
                    self._report(path, exc.strerror or str(exc))
            if len(self.batch.jobs) >= _BATCH:
                self._flush()

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
            kind = (
                "socket"
                if stat.S_ISSOCK(mode)
                else "named pipe"
                if stat.S_ISFIFO(mode)
                else "device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "special file"
            )
            self._report(path, f"not a regular file ({kind}); not read")
            return
        host = host or self.fs.host(real)
        if st.st_size > self.max_size:
            if self._looks_like_material(host, path):
                self._report(
                    path,
                    f"skipped: {_size(st.st_size)} is larger than scan.max_file_size "
                    f"({_size(self.max_size)})",
                )
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


class _Aggregator:
    """Merges parsed files into records, one per certificate."""

    def __init__(
        self,
        fs: RootFS,
        trust_stores: set[str],
        anchor_stores: set[str],
        previous: dict[str, tuple[int, CertificateRecord]] | None = None,
    ) -> None:
        self.fs = fs
        self.previous = previous or {}
        self.made: dict[str, tuple[int, CertificateRecord]] = {}
        self.trust_stores = trust_stores
        self.anchor_stores = anchor_stores
        self.certs: dict[str, _CertState] = {}
        self.keys: dict[str, list[PrivateKeyInfo]] = defaultdict(list)
        self.all_keys: list[PrivateKeyInfo] = []
        self.pkcs12: list[Store] = []
        self.unreadable: list[Unreadable] = []

    @staticmethod
    def locations(job: _Job, parsed: ParsedFile) -> tuple[Location, ...]:
        """The locations a file contributes (cached with the parsed file for rescans)."""
        shown = printable_path(job.path)
        link = printable_path(job.symlink_to) if job.symlink_to else None
        return tuple(
            Location(job.store, shown, found.position, found.format, link, job.host)
            for found in parsed.certs
        )

    def add(self, job: _Job, parsed: ParsedFile, locations: tuple[Location, ...]) -> list[str]:
        """Merge one file; return the fingerprints whose records changed."""
        shown = printable_path(job.path)
        changed: list[str] = []
        anchor = job.store in self.anchor_stores
        for found, location in zip(parsed.certs, locations, strict=True):
            facts = found.facts
            state = self.certs.get(facts.sha256)
            if state is None:
                state = self.certs[facts.sha256] = _CertState(facts)
            state.locations.append(location)
            if anchor:
                state.anchor = True
            changed.append(facts.sha256)
        for key in parsed.keys:
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
        if parsed.pkcs12:
            self.pkcs12.append(Store(f"PKCS#12 {shown}", StoreKind.PKCS12, shown))
        for problem in parsed.problems:
            self.unreadable.append(Unreadable(shown, problem))
        return changed

    def record(self, sha256: str, *, now: datetime, settings: Settings) -> CertificateRecord:
        state = self.certs[sha256]
        if len(state.locations) == 1:
            locations: tuple[Location, ...] = (state.locations[0],)
        else:
            locations = tuple(sorted(state.locations, key=lambda loc: (loc.path, loc.index)))
        anchor = state.anchor
        key = self._key_for(state.facts, locations)
        checks = settings.checks
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
                return old
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
        record = CertificateRecord(
            cert=state.facts,
            locations=locations,
            private_key=key,
            findings=sort_findings(findings),
            trust_anchor=anchor,
        )
        self.made[sha256] = (when, record)
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
    states: tuple[tuple[CertificateRecord, int], ...]


@dataclass(frozen=True, slots=True)
class _Cached:
    ident: tuple[int, int, int, int, int]
    store: str
    symlink_to: str | None
    parsed: ParsedFile
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
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pool_ready: (
            concurrent.futures.Future[concurrent.futures.ProcessPoolExecutor] | None
        ) = None
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="certdeck-parse"
        )

    def close(self) -> None:
        """Stop the worker processes and threads."""
        if self._pool_ready is not None:
            with contextlib.suppress(Exception):
                self._pool_ready.result(timeout=30).shutdown(wait=False, cancel_futures=True)
            self._pool_ready = None
            self._pool = None
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_pool(self) -> None:
        """Start the worker processes in the background; parsing goes on in a thread meanwhile.

        Starting processes takes about 0.15 s; doing it on the event loop would freeze the
        UI, so a thread starts them and the pool is used once every worker answered.
        """
        if self._pool_ready is not None:
            return
        ready: concurrent.futures.Future[concurrent.futures.ProcessPoolExecutor] = (
            concurrent.futures.Future()
        )
        self._pool_ready = ready

        def start() -> None:
            try:
                # forkserver: forking a process that runs threads (UI, walker) is unsafe.
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["core.parse"])
                pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=ctx, initializer=_worker_init
                )
                for fut in [pool.submit(_parse_files, []) for _ in range(self.processes)]:
                    fut.result()
                self._pool = pool
                ready.set_result(pool)
            except BaseException as exc:  # no processes here (sandbox): threads it is
                ready.set_exception(exc)

        threading.Thread(target=start, name="certdeck-pool", daemon=True).start()

    def _executor(self) -> tuple[concurrent.futures.Executor, int]:
        """The executor to use now and how many batches it should have in flight."""
        ready = self._pool_ready
        if ready is not None and ready.done() and ready.exception() is None:
            return ready.result(), self.processes * 3
        return self._threads, 2

    async def scan(self, *, now: datetime) -> Inventory:
        """Scan to the end and return the finished inventory."""
        async for event in self.events(now=now, stream_records=False):
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
        loop = asyncio.get_running_loop()
        settings = self.settings
        plans, found, declared = await asyncio.to_thread(self._plan)
        stores = [p.store for p in plans]
        for store in stores:
            yield StoreDiscovered(store)
        trust = {s.name for s in stores if s.kind is StoreKind.TRUST}
        # Records are reused only when nothing that shapes them changed, settings included.
        previous = self._records if self._records_settings is settings else None
        agg = _Aggregator(self.fs, trust, trust, previous)
        queue: asyncio.Queue[_Walked | None] = asyncio.Queue()
        walker = _Walker(
            self.fs, plans, settings.scan.exclude, settings.scan.max_file_size, loop, queue
        )
        thread = threading.Thread(target=walker.run, name="certdeck-walk", daemon=True)
        thread.start()

        seen = done = 0
        walking = True
        pending: dict[asyncio.Future[list[ParsedFile | str]], list[_Job]] = {}
        parsed_now: dict[tuple[int, int], ParsedFile | str] = {}
        waiting: dict[tuple[int, int], list[_Job]] = {}
        cache = self._cache
        fresh_cache: dict[str, _Cached] = {}
        to_parse = 0
        backlog: collections.deque[list[_Job]] = collections.deque()
        if self.parallel == "process":
            self._start_pool()
            with contextlib.suppress(Exception):  # falls back to threads
                await asyncio.wrap_future(self._pool_ready)  # type: ignore[arg-type]

        # Unchanged files are merged at the end: when nothing at all changed, the last
        # scan's merged result is reused as it is.
        deferred: list[tuple[_Job, _Cached]] = []
        walk_unreadable: list[Unreadable] = []
        fresh = 0

        def apply(job: _Job, result: ParsedFile | str) -> list[str]:
            nonlocal fresh
            fresh += 1
            if isinstance(result, str):
                agg.unreadable.append(Unreadable(printable_path(job.path), result))
                return []
            entry = _Cached(
                job.ident, job.store, job.symlink_to, result, agg.locations(job, result)
            )
            fresh_cache[job.path] = entry
            return agg.add(job, result, entry.locations)

        def records(shas: Iterable[str]) -> tuple[CertificateRecord, ...]:
            return tuple(agg.record(s, now=now, settings=settings) for s in dict.fromkeys(shas))

        try:
            while walking or pending or backlog:
                self._submit(loop, backlog, pending)
                changed: list[str] = []
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
                        seen += len(batch.jobs)
                        todo: list[_Job] = []
                        for job in batch.jobs:
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
                                changed += apply(job, parsed_now[dev_ino])
                                done += 1
                            elif dev_ino in waiting:
                                waiting[dev_ino].append(job)
                            else:
                                waiting[dev_ino] = [job]
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
                    for job, result in zip(jobs, results, strict=True):
                        dev_ino = job.ident[:2]
                        parsed_now[dev_ino] = result
                        for same in waiting.pop(dev_ino, [job]):
                            changed += apply(same, result)
                            done += 1
                    if len(agg.unreadable) > unreadable_before:
                        yield FilesUnreadable(tuple(agg.unreadable[unreadable_before:]))
                if changed and stream_records:
                    yield CertificatesFound(records(changed))
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
            and all(time_state(r.cert, now, days) == st for r, st in last.states)
        ):
            agg, final = last.agg, last.final  # nothing changed since the last scan
        else:
            for job, hit in deferred:
                agg.add(job, hit.parsed, hit.locations)
            final = tuple(
                sorted(
                    records(agg.certs),
                    key=lambda r: (r.cert.display_name.casefold(), r.sha256),
                )
            )
            self._records = agg.made
            self._records_settings = settings
            self._last = _LastScan(
                settings,
                len(fresh_cache),
                tuple(walk_unreadable),
                agg,
                final,
                tuple((r, time_state(r.cert, now, days)) for r in final),
            )
        analysed: tuple[CertificateRecord, ...] = final
        consumers: tuple[Consumer, ...] = ()
        if self.analyse:
            analysed, consumers = await asyncio.to_thread(
                self._analyse, final, tuple(agg.all_keys), found, declared, now
            )
        yield ScanFinished(
            Inventory(
                root=self.fs.root,
                evaluated_at=now,
                stores=tuple(stores) + tuple(agg.pkcs12),
                certificates=analysed,
                unreadable=tuple(sorted(agg.unreadable, key=lambda u: (u.path, u.reason))),
                private_keys=tuple(agg.all_keys),
                files_scanned=seen,
                consumers=consumers,
            )
        )

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
        pending: dict[asyncio.Future[list[ParsedFile | str]], list[_Job]],
    ) -> None:
        """Hand batches to the best executor available, keeping only a few in flight.

        Batches wait here rather than in an executor's queue so that, once the worker
        processes are up, the rest of the work goes to them.
        """
        executor, limit = self._executor()
        while backlog and len(pending) < limit:
            jobs = backlog.popleft()
            items = [(j.host, j.path.rsplit("/", 1)[-1]) for j in jobs]
            pending[loop.run_in_executor(executor, _parse_files, items)] = jobs


_CACHE_FORMAT = 1


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
