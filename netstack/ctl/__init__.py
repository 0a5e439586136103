"""The control plane: what tools use to look inside, and tune, a running stack.

    ss_format.py   `ss -i`'s line of TCP internals from TCP_INFO, in iproute2's tokens
    views.py       what the tools show, read from a stack: ss's rows, ip -j's addresses,
                   routes and neighbours (Linux's JSON keys)
    tunables.py    every tunable as a typed tree (`netstack sysctl`): range, meaning, when
                   a change takes effect; set on the loop thread of a running stack
"""
