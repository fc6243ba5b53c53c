"""Example performers built with `hourglass_executor.sdk` (used by tests and example images)."""
