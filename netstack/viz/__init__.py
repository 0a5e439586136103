"""The plots the notebooks share, and anyone else who wants to look rather than read.

    fields.py    header_fields: which bytes of a frame are which header field (no plotting)
    bytemap.py   byte_map: a hexdump with each header field coloured and named
    ladder.py    ladder: a sequence diagram, from a transcript, a pcap or (time, frame) pairs
    states.py    state_diagram: RFC 9293's state diagram, with the path a connection took
    timeseq.py   time_sequence: tcptrace's time-sequence graph, from trace events
    tcpinfo.py   TcpInfoRecorder and tcp_info_series: TCP_INFO values over time

Everything draws on a matplotlib Axes it is given (or a new figure), and returns it; nothing
here reads a stage's private state: only frames, trace events and TCP_INFO.
"""

from netstack.viz.bytemap import byte_map
from netstack.viz.fields import Field, header_fields
from netstack.viz.figures import save_figure
from netstack.viz.ladder import (
    Message,
    ladder,
    messages_from_frames,
    messages_from_harness,
    messages_from_pcap,
)
from netstack.viz.states import state_diagram, state_path
from netstack.viz.tcpinfo import TcpInfoRecorder, tcp_info_series
from netstack.viz.timeseq import time_sequence

__all__ = [
    "Field",
    "Message",
    "TcpInfoRecorder",
    "byte_map",
    "header_fields",
    "ladder",
    "messages_from_frames",
    "messages_from_harness",
    "messages_from_pcap",
    "save_figure",
    "state_diagram",
    "state_path",
    "tcp_info_series",
    "time_sequence",
]
