"""This machine's names and addresses, to pre-fill the server certificate form.

The host name comes from the kernel, the fully qualified name from the resolver (the same
answer ``hostname -f`` gives, normally from ``/etc/hosts``), and the addresses of every
network interface from ``psutil``.  Nothing here opens a connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psutil

__all__ = ["AddressKind", "HostInfo", "InterfaceAddress", "host_info"]

AddressKind = Literal["loopback", "link-local", "private", "global"]


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    """One IP address of one network interface."""

    interface: str
    address: str
    """The address in its compressed text form, without an IPv6 zone (``%eth0``)."""
    kind: AddressKind

    def describe(self) -> str:
        """``192.0.2.2 (eth0)``, ``::1 (lo, loopback)``."""
        extra = "" if self.kind in ("private", "global") else f", {self.kind}"
        return f"{self.address} ({self.interface}{extra})"


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The names and addresses a server certificate for this machine should hold."""

    hostname: str
    fqdn: str
    """The fully qualified name; equal to ``hostname`` when none is configured."""
    addresses: tuple[InterfaceAddress, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The DNS names: the fully qualified name first, then the short host name."""
        out: list[str] = []
        for name in (self.fqdn, self.hostname):
            name = name.strip().rstrip(".").lower()
            if name and name != "localhost" and name not in out:
                out.append(name)
        return tuple(out)

    @property
    def ips(self) -> tuple[str, ...]:
        """Every address once, in interface order."""
        seen: list[str] = []
        for item in self.addresses:
            if item.address not in seen:
                seen.append(item.address)
        return tuple(seen)


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> AddressKind:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    return "global"


def _addresses(interfaces: Mapping[str, Sequence[Any]]) -> tuple[InterfaceAddress, ...]:
    out: list[InterfaceAddress] = []
    for interface, entries in interfaces.items():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue  # MAC addresses (AF_PACKET) and others
            text = str(entry.address).partition("%")[0]
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            out.append(InterfaceAddress(interface, ip.compressed, _kind(ip)))
    return tuple(out)


def host_info(
    *,
    hostname: str | None = None,
    fqdn: Callable[[str], str] | None = None,
) -> HostInfo:
    """The running machine's host name, fully qualified name and interface addresses.

    Args:
        hostname: Use this instead of the kernel's host name.
        fqdn: Turns the host name into the fully qualified name (default: the resolver's
            ``socket.getfqdn``).
    """
    name = hostname if hostname is not None else socket.gethostname()
    resolve = fqdn if fqdn is not None else socket.getfqdn
    try:
        full = resolve(name)
    except OSError:
        full = name
    # A resolver without an entry for the host answers "localhost" or the short name.
    if not full or full in ("localhost", "localhost.localdomain"):
        full = name
    return HostInfo(name, full, _addresses(psutil.net_if_addrs()))
