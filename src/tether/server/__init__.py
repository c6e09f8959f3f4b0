"""The controller's HTTP surface: Prometheus metrics, push webhooks, health probes.

Owns: request parsing and its limits (body size, signature checks, timeouts), rendering
metrics from pure snapshots. Must not: reach into the controller or engine other than
through the callbacks it is given. starlette, uvicorn and prometheus_client live here only.
"""
