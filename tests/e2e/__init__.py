"""The running deployment, end to end: real servers on loopback ports."""
