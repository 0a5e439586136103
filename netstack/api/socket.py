"""`from netstack.api import socket` reads like the stdlib module: the constants, plus the
socket classes (create sockets with `Host.socket`, since every socket lives on a host)."""

from netstack.api import constants as _constants
from netstack.api.base_socket import StackSocket as SocketType
from netstack.api.constants import *  # noqa: F403 - the module is its constants
from netstack.api.udp_socket import UdpSocket

timeout = TimeoutError  # socket.timeout has been TimeoutError since Python 3.10

__all__ = ["SocketType", "UdpSocket", "timeout", *(n for n in dir(_constants) if n.isupper())]
