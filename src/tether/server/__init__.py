"""HTTP surface: metrics, webhooks, probes."""
