"""The control plane: what tools use to look inside, and tune, a running stack.

A running stack (`netstack run`) offers a shared-memory segment; tools (`netstack ps`,
`stat`, `ss`, `ip`, `sysctl`) claim a slot in it and exchange messages through a pair of
native rings; the loop answers a few requests per pass, on its own thread
(docs/CONTROL.md).

    segment.py     the segment's layout: header, client slots with their rings, buffers
    messages.py    one message in one buffer: header and JSON payload, checked on the way in
    server.py      the loop's side: serve new clients, answer requests, page large answers
    handlers.py    what a stack answers, by request type
    client.py      the tools' side: find the stack, claim a slot, ask; every failure a line
    tools.py       the commands

    ss_format.py   `ss -i`'s line of TCP internals from TCP_INFO, in iproute2's tokens
    views.py       what the tools show, read from a stack: ss's rows, ip -j's addresses,
                   routes and neighbours (Linux's JSON keys)
    tunables.py    every tunable as a typed tree (`netstack sysctl`): range, meaning, when
                   a change takes effect; set on the loop thread of a running stack
"""
