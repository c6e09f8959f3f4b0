"""Age X25519 key pairs for SOPS tests, made in Python (there is no age-keygen binary here).

An age identity is the 32-byte X25519 private key in Bech32 (BIP 173, not Bech32m) with
the prefix `age-secret-key-`, written in upper case; its recipient is the public key with
the prefix `age`. age does not enforce Bech32's 90-character limit, so neither do we.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_5bit(data: bytes) -> list[int]:
    """Regroup 8-bit bytes into 5-bit words, zero-padding the last one."""
    acc, bits, words = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    return words


def bech32_encode(hrp: str, data: bytes) -> str:
    words = _to_5bit(data)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


@dataclass(frozen=True)
class AgeKeyPair:
    identity: str  # AGE-SECRET-KEY-1...: what SOPS_AGE_KEY holds
    recipient: str  # age1...: what `sops --encrypt --age` takes


def generate_age_key_pair() -> AgeKeyPair:
    private = X25519PrivateKey.generate()
    secret = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return AgeKeyPair(
        identity=bech32_encode("age-secret-key-", secret).upper(),
        recipient=bech32_encode("age", public),
    )


def sops_encrypt(sops: Path, recipient: str, plaintext: str, home: Path) -> str:
    """A YAML manifest encrypted by the real sops for an age recipient (data/stringData only)."""
    source = home / ".sops-plaintext.yaml"
    source.write_text(plaintext)
    try:
        return subprocess.run(
            [
                str(sops),
                "--encrypt",
                "--age",
                recipient,
                "--encrypted-regex",
                "^(data|stringData)$",
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
                str(source),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"HOME": str(home)},
        ).stdout
    finally:
        source.unlink()
