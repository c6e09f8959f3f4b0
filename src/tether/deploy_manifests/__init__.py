"""The in-cluster install manifests (namespace, RBAC, controller), packaged with tether.

Data only: copies of `deploy/*.yaml` that `tether install` reads with importlib.resources.
They must stay byte-identical to `deploy/` (tests/unit/test_install_manifests.py checks).
The Application CRD is packaged separately, under `tether/model/crds/`.
"""
