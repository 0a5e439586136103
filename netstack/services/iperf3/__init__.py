"""iperf3 on netstack: a server the real iperf3 client accepts, and a client for the real
server. Written from the protocol (protocol.py), not ported; docs/IPERF3.md.

    server.py   Handler: `netstack run --service iperf3:5201`
    client.py   run_client(host, ...): `netstack iperf3 -c HOST`
    cli.py      the `netstack iperf3` command
"""
