"""Put netstack under an unmodified program: patch the standard library, as gevent's monkey does.

    from netstack.compat import patch
    patch.patch_all(host, dns="192.0.2.1")   # before the program imports what it uses
    ...urllib, http.server, socketserver, asyncio now talk over `host`...
    patch.is_patched("socket", "socket")    # True
    patch.get_original("socket", "socket")  # the kernel's socket class
    patch.unpatch_all()

What is replaced, and by what:

    socket      socket (NetstackSocket: AF_INET stream/datagram on netstack, the rest stay
                kernel sockets), getaddrinfo, gethostbyname, gethostbyname_ex,
                gethostbyaddr, getfqdn, getdefaulttimeout, setdefaulttimeout
    select      select, poll (both kinds of file number at once: compat/selector.py)
    selectors   DefaultSelector, SelectSelector, PollSelector, EpollSelector -> MixedSelector
    socketserver  _ServerSelector (bound when socketserver was imported)
    ssl         SSLContext.wrap_socket: a netstack socket gets TLS through a MemoryBIO
    os          fork, dup, dup2, fstat, set_inheritable: refused on a netstack socket with
                a message saying why, rather than failing deep inside the kernel
    asyncio     the event loop policy: every new loop is a NetstackEventLoop

`socket.create_connection`, `socket.create_server` and `socket.socketpair` need no patch:
they look up `socket` and `getaddrinfo` in their module when called.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import selectors
import socket
import ssl
import sys
from typing import Any

from netstack.compat import resolver as resolver_module
from netstack.compat.aio import NetstackEventLoopPolicy
from netstack.compat.resolver import Resolver
from netstack.compat.selector import MixedPoll, MixedSelector, mixed_select
from netstack.compat.socket_class import NetstackSocket, Unsupported, is_netstack_fileno

# (module or class name, attribute) -> (the module or class, the original value)
_originals: dict[tuple[str, str], tuple[Any, Any]] = {}
_saved_policy: Any = None


def _patch(module_name: str, name: str, value: Any) -> None:
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    _patch_attribute(module, module_name, name, value)


def is_patched(module_name: str, name: str | None = None) -> bool:
    if name is None:
        return any(m == module_name for m, _ in _originals)
    return (module_name, name) in _originals


def get_original(module_name: str, name: str) -> Any:
    """The stdlib's own object, whether or not it is patched now."""
    key = (module_name, name)
    if key in _originals:
        return _originals[key][1]
    return getattr(importlib.import_module(module_name), name)


def patch_all(host: Any, dns: str | None = None,
              hosts_file: Any = resolver_module.HOSTS_FILE) -> Resolver:
    """Route the standard library's AF_INET sockets through `host`; returns the resolver."""
    resolver = Resolver(host, dns, hosts_file)
    resolver_module.current = resolver
    NetstackSocket.host = host
    _patch_socket(resolver)
    _patch_select()
    _patch_os()
    _patch_ssl()
    global _saved_policy
    if _saved_policy is None:
        _saved_policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(NetstackEventLoopPolicy())
    return resolver


def unpatch_all() -> None:
    global _saved_policy
    for (_owner_name, name), (owner, value) in _originals.items():
        setattr(owner, name, value)
    _originals.clear()
    NetstackSocket.host = None
    NetstackSocket.default_timeout = None
    resolver_module.current = None
    if _saved_policy is not None:
        asyncio.set_event_loop_policy(_saved_policy)
        _saved_policy = None


# --- socket ------------------------------------------------------------------------------
def _patch_socket(resolver: Resolver) -> None:
    _patch("socket", "socket", NetstackSocket)
    _patch("socket", "SocketType", NetstackSocket)
    _patch("socket", "getaddrinfo", resolver.getaddrinfo)
    _patch("socket", "gethostbyname", resolver.to_ipv4)
    _patch("socket", "gethostbyname_ex", lambda name: (name, [], resolver.addresses(name)))
    _patch("socket", "gethostbyaddr", _gethostbyaddr(resolver))
    _patch("socket", "getfqdn", resolver.getfqdn)
    _patch("socket", "getdefaulttimeout", lambda: NetstackSocket.default_timeout)
    _patch("socket", "setdefaulttimeout", _setdefaulttimeout)


def _setdefaulttimeout(timeout: float | None) -> None:
    if timeout is not None and float(timeout) < 0:
        raise ValueError("Timeout value out of range")
    NetstackSocket.default_timeout = None if timeout is None else float(timeout)
    get_original("socket", "setdefaulttimeout")(timeout)  # kernel sockets follow it too


def _gethostbyaddr(resolver: Resolver):
    def gethostbyaddr(address: str) -> tuple[str, list[str], list[str]]:
        ip = resolver.to_ipv4(address)
        name = resolver.name_of(ip)
        if name is None:
            raise socket.herror(1, "Unknown host")
        return name, [], [ip]
    return gethostbyaddr


# --- select, selectors, socketserver -----------------------------------------------------
def _patch_select() -> None:
    _patch("select", "select", mixed_select)
    _patch("select", "poll", MixedPoll)
    for name in ("DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector"):
        if hasattr(selectors, name):
            _patch("selectors", name, MixedSelector)
    # socketserver chose its selector class when it was imported: replace that choice.
    _patch("socketserver", "_ServerSelector", MixedSelector)


# --- os: what cannot work says so --------------------------------------------------------
def _refuse_fork() -> int:
    raise RuntimeError("fork() is not supported under netstack exec: the child would get a "
                       "copy of the stack without its thread (use threads, or subprocess "
                       "for programs that need no netstack socket)")


def _guard(name: str, original: Any) -> Any:
    def guarded(fd: Any, *args: Any, **kwargs: Any) -> Any:
        if is_netstack_fileno(fd):
            raise Unsupported(f"os.{name}({fd})")
        return original(fd, *args, **kwargs)
    guarded.__name__ = name
    guarded.__doc__ = original.__doc__
    return guarded


def _patch_os() -> None:
    _patch("os", "fork", _refuse_fork)
    for name in ("dup", "dup2", "fstat", "set_inheritable", "get_inheritable", "set_blocking",
                 "get_blocking"):
        if hasattr(os, name):
            _patch("os", name, _guard(name, getattr(os, name)))


# --- ssl ---------------------------------------------------------------------------------
def _patch_ssl() -> None:
    from netstack.compat.tls import NetstackSSLSocket

    original = ssl.SSLContext.wrap_socket

    def wrap_socket(context: ssl.SSLContext, sock: Any, server_side: bool = False,
                    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                    server_hostname: str | None = None, session: Any = None) -> Any:
        if type(sock) is not NetstackSocket:  # (isinstance is true of kernel sockets too)
            return original(context, sock, server_side, do_handshake_on_connect,
                            suppress_ragged_eofs, server_hostname, session)
        return NetstackSSLSocket(context, sock, server_side, do_handshake_on_connect,
                                 suppress_ragged_eofs, server_hostname, session)

    _patch_attribute(ssl.SSLContext, "ssl.SSLContext", "wrap_socket", wrap_socket)


def _patch_attribute(owner: Any, owner_name: str, name: str, value: Any) -> None:
    key = (owner_name, name)
    if key not in _originals:
        _originals[key] = (owner, getattr(owner, name))
    setattr(owner, name, value)
