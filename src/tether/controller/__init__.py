"""Controller: the long-running reconcile loop."""
