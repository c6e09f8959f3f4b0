"""Pure logic: diff, normalization, health, sync planning, drift attribution. No I/O."""
