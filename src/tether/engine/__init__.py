"""Orchestration: compare (refresh), sync operation, history, rollback, revert, DR.

Owns: the order in which the adapters (kube, git, render, sandbox) and core are called for
one command or one reconcile, and the Application store (`engine/apps.py`), the only
writer of an Application's status. Must not: print, parse flags or serve HTTP (cli,
controller and server do), or hold decisions that could be pure (they go to core).
"""
