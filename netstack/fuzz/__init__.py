"""Coverage-guided fuzzing of the stack (issue 16, part 4): harnesses, each a function
`one_input(data: bytes)` that atheris drives or a plain seeded loop replays.

    receive   Stack.receive with frames of every protocol (receive.py)
    codecs    the wire codecs: decode, and re-encode what decodes (codecs.py)
    calls     socket calls interleaved with frames, as a little program (calls.py)

After an input, world.py's invariants must hold: nothing but the documented errors escapes,
and once every connection is closed and every timer has run, the pool, the connection table
and the timers are back where they started. `python -m netstack.fuzz --help` runs them;
docs/FUZZING.md says how to add a regression.

This package imports nothing at import time, so atheris can instrument every netstack module
a harness pulls in (runner.py imports the harness under `atheris.instrument_imports`).
"""

HARNESSES = {
    "receive": "netstack.fuzz.receive",
    "codecs": "netstack.fuzz.codecs",
    "calls": "netstack.fuzz.calls",
}
