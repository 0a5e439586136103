"""Unmodified programs on netstack: the standard library, patched (`netstack exec`).

    patch.py        patch_all / is_patched / get_original / unpatch_all
    socket_class.py NetstackSocket: socket.socket's behaviour over a netstack socket
    selector.py     MixedSelector, select() and poll() over netstack and kernel fds at once
    resolver.py     names: numeric, /etc/hosts, DNS over netstack UDP
    aio.py          NetstackEventLoop and its policy
    tls.py          ssl over a netstack socket, through MemoryBIO
"""
