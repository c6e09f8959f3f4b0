"""Pure logic: diff, normalization, health, sync planning, drift attribution, status.

Owns: every decision that can be made from data alone — what differs, why it drifted and
who wrote it, what is healthy, in which order a sync applies and prunes, what the status
says. Must not: do I/O of any kind (no files, network, subprocess, clock, asyncio; the
import contracts forbid them), so that all of it is unit-tested without a cluster. Inside,
`paths` and the vocabularies sit at the bottom and `status` at the top (pyproject's
layer contract).
"""
