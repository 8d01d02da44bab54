"""Replay planning, sans I/O: stored events to the requests that resend them, retry rules, reports."""
