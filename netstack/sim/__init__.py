"""Experiments: real netstack stacks on emulated networks, in virtual time.

The same stages that talk to Linux run here, driven by a discrete-event simulator
(events.py) instead of a port and a dispatch loop. Links (link/) are modelled as
serializer -> queue -> propagation -> impairments; applications are ordinary asyncio code on
a virtual-time event loop (aio.py). A run (run.py) turns a scenario into a directory of
metrics, time series, link logs and pcaps; campaign.py sweeps scenarios over seeds.
"""
