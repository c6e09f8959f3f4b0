"""The long-running reconcile loop (`tether controller`).

Owns: the work queue, watch-driven and Git-poll-driven reconciles, the auto-sync /
self-heal decisions put into action (the decisions themselves are core/autosync), shard
Leases, and the conditions and Events only a controller raises. Must not: write an
Application's status except through engine/apps (the one status writer), compare or
sync other than through the engine, or block one app's work on another's.
"""
