"""The constants of the socket API, with the same names and values as Python's `socket` and
`select` modules (so code written for those reads the same against netstack)."""

import select as _select
import socket as _socket

AF_INET = _socket.AF_INET
SOCK_DGRAM = _socket.SOCK_DGRAM
SOCK_STREAM = _socket.SOCK_STREAM
SOL_SOCKET = _socket.SOL_SOCKET
SO_RCVBUF = _socket.SO_RCVBUF
SO_SNDBUF = _socket.SO_SNDBUF
SO_REUSEADDR = _socket.SO_REUSEADDR
SO_BROADCAST = _socket.SO_BROADCAST
SO_ERROR = _socket.SO_ERROR
SO_TYPE = _socket.SO_TYPE
SO_KEEPALIVE = _socket.SO_KEEPALIVE
SO_LINGER = _socket.SO_LINGER
IPPROTO_TCP = _socket.IPPROTO_TCP
TCP_NODELAY = _socket.TCP_NODELAY
TCP_KEEPIDLE = _socket.TCP_KEEPIDLE
TCP_KEEPINTVL = _socket.TCP_KEEPINTVL
TCP_KEEPCNT = _socket.TCP_KEEPCNT
TCP_CONGESTION = getattr(_socket, "TCP_CONGESTION", 13)  # Linux's value
TCP_INFO = getattr(_socket, "TCP_INFO", 11)  # Linux's value; netstack returns a TcpInfo
SHUT_RD = _socket.SHUT_RD
SHUT_WR = _socket.SHUT_WR
SHUT_RDWR = _socket.SHUT_RDWR
# Plain ints: socket's are IntFlag members, and `flags & MSG_PEEK` on one of those runs
# enum code in Python, a couple of microseconds on every recv and send.
MSG_PEEK = int(_socket.MSG_PEEK)
MSG_DONTWAIT = int(_socket.MSG_DONTWAIT)
INADDR_ANY = "0.0.0.0"
INADDR_BROADCAST = "255.255.255.255"

POLLIN = _select.POLLIN
POLLPRI = _select.POLLPRI
POLLOUT = _select.POLLOUT
POLLERR = _select.POLLERR
POLLHUP = _select.POLLHUP
POLLNVAL = _select.POLLNVAL
POLLRDHUP = _select.POLLRDHUP

EPOLLIN = _select.EPOLLIN
EPOLLOUT = _select.EPOLLOUT
EPOLLERR = _select.EPOLLERR
EPOLLHUP = _select.EPOLLHUP
EPOLLET = _select.EPOLLET
EPOLLONESHOT = _select.EPOLLONESHOT
EPOLLRDHUP = _select.EPOLLRDHUP
