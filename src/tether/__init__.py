"""tether: keeps Kubernetes clusters tethered to Git."""

__version__ = "0.1.0"
