"""The Application resource and its vocabulary (pure: no I/O, DESIGN §1).

Owns: every `tether.dev/*` name (names.py), the spec and status types with their parsing
and validation (one line naming the field for every error), the one health enum and every
condition type (status.py), tracking ids. Must not: import anything of tether above it.
"""
