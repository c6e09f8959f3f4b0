"""Engine: compare, sync, history, rollback, DR bootstrap (orchestration)."""
