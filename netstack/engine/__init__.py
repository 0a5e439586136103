"""The engine: packet buffers, rings, ports, the dispatch loop, timers, KNI and capture."""
