"""Helpers the tests import: server runners, the nginx harness, slow clients, a wire server."""
