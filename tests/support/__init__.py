"""Helpers shared by the test suites: cluster access, waiting, failure diagnostics."""
