"""The control plane: what tools use to look inside, and tune, a running stack.

    ss_format.py   `ss -i`'s line of TCP internals from TCP_INFO, in iproute2's tokens
    tunables.py    every tunable as a typed tree (`netstack sysctl`): range, meaning, when
                   a change takes effect; set on the loop thread of a running stack
"""
