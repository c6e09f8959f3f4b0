"""Pure Application types and validation: no I/O (DESIGN §1)."""
