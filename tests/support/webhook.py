"""A real mutating admission webhook for tests: an HTTPS server on loopback with a CA of its
own, and the MutatingWebhookConfiguration that sends the API server's admission requests
to it.

The local kube-apiserver runs on the same host, so `clientConfig.url` is
`https://127.0.0.1:PORT/mutate` and the configuration's `caBundle` is the test CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# (the object under admission, the AdmissionReview request) -> JSON Patch operations
Mutation = Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca_and_serving_cert(directory: Path) -> tuple[bytes, Path, Path]:
    """A fresh CA and a serving certificate for 127.0.0.1 signed by it.

    Returns (CA certificate PEM, serving certificate file, serving key file).
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tether-test-webhook-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "webhook.crt", directory / "webhook.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(key))
    key_file.chmod(0o600)
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


class MutatingWebhook:
    """An admission webhook server on 127.0.0.1 (a thread of the test process).

    `mutate` returns the JSON Patch for each object; every AdmissionReview request is kept
    in `requests` (kind, operation, dryRun, name) so a test can see that the API server
    called it.
    """

    def __init__(self, directory: Path, mutate: Mutation) -> None:
        self.mutate = mutate
        self.requests: list[dict[str, Any]] = []
        self.ca_pem, cert_file, key_file = make_ca_and_serving_cert(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}/mutate"

    def start(self) -> MutatingWebhook:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="test-webhook", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> MutatingWebhook:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def review(self, body: dict[str, Any]) -> dict[str, Any]:
        """The AdmissionReview response to one request."""
        request = body["request"]
        obj = request.get("object") or {}
        self.requests.append(
            {
                "kind": request.get("kind", {}).get("kind"),
                "operation": request.get("operation"),
                "dryRun": bool(request.get("dryRun")),
                "name": request.get("name") or obj.get("metadata", {}).get("name"),
            }
        )
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        patch = self.mutate(obj, request)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        return {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": response,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    reply = json.dumps(webhook.review(json.loads(self.rfile.read(length))))
                    status = 200
                except Exception as exc:  # an answer the API server can log, not a hang
                    reply, status = json.dumps({"error": repr(exc)}), 500
                data = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test asserts on `requests`

        return Handler

    def configuration(
        self,
        name: str,
        *,
        namespace: str,
        rules: list[dict[str, Any]],
        object_selector: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A MutatingWebhookConfiguration limited to `namespace` (and `object_selector`)."""
        webhook: dict[str, Any] = {
            "name": f"{name}.tether.test",
            "clientConfig": {"url": self.url, "caBundle": base64.b64encode(self.ca_pem).decode()},
            "rules": rules,
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "failurePolicy": "Ignore",
            "sideEffects": "None",  # so the API server calls it for dry-run requests too
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
            "reinvocationPolicy": "Never",
        }
        if object_selector is not None:
            webhook["objectSelector"] = object_selector
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [webhook],
        }
