"""The one exception type of the devnet tooling: something the local chain could not do, with the reason."""


class DevnetError(Exception):
    """A devnet step failed (tool install, compile, deploy, a reverted call); the message says why."""
