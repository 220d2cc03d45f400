"""A real TLS server on 127.0.0.1 in a thread, serving a chosen chain (optionally after
STARTTLS), for probe tests."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.certgen import Made

_SMTP_HELLO = b"250-test.invalid\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"


class TLSServer:
    """Serve the certificates of ``chain_pem`` (leaf first) with ``key_pem`` until closed.

    Use as a context manager; ``port`` is the listening port and ``connections`` counts the
    connections accepted.
    """

    def __init__(
        self,
        folder: Path,
        chain_pem: bytes,
        key_pem: bytes,
        *,
        starttls: str | None = None,
        maximum_version: ssl.TLSVersion | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cert_file = folder / "served.pem"
        key_file = folder / "served.key"
        cert_file.write_bytes(chain_pem)
        key_file.write_bytes(key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if maximum_version is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.context.minimum_version = ssl.TLSVersion.TLSv1
                self.context.maximum_version = maximum_version
            self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.context.load_cert_chain(cert_file, key_file)
        self.starttls = starttls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                self.connections += 1
                with contextlib.suppress(OSError):
                    self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        if self.starttls == "smtp":
            conn.sendall(b"220 test.invalid ESMTP\r\n")
            _read_line(conn)  # EHLO
            conn.sendall(_SMTP_HELLO)
            _read_line(conn)  # STARTTLS
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
        elif self.starttls == "postgres":
            conn.recv(8)
            conn.sendall(b"S")
        with self.context.wrap_socket(conn, server_side=True) as tls, contextlib.suppress(OSError):
            tls.recv(1)  # wait for the client to finish and close


def serve(folder: Path, chain: list[Made], **options: Any) -> TLSServer:
    """A server for certificates made by :mod:`tests.certgen` (leaf first)."""
    key = chain[0].key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return TLSServer(folder, b"".join(m.pem for m in chain), key, **options)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data
