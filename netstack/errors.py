"""One error hierarchy for the whole stack."""


class NetstackError(Exception):
    """Base class of every error netstack raises on purpose."""


class MalformedPacket(NetstackError):
    """A header failed validation. `reason` is a short constant that names a drop counter."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConfigError(NetstackError):
    """Bad configuration or command-line input. The CLI prints it on one line and exits 2."""
