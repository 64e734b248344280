"""The sandbox's TLS certificate for Asterisk's HTTPS/WSS port (browser softphones).

A browser only opens ``wss://`` to a server whose certificate it trusts. The
sandbox makes one self-signed certificate for ``127.0.0.1``/``localhost``,
once, kept beside the root in ``<root>.state/tls/`` (the key mode 0600) and
copied into ``<root>/etc/asterisk/keys/`` for Asterisk's ``http.conf``. A
browser trusts it either by a person accepting it once (open
``https://127.0.0.1:8089/httpstatus``) or, in tests, by Chromium's
``--ignore-certificate-errors-spki-list=<spki_sha256(cert)>``, which trusts
exactly this key and nothing else.

openssl (the host's) makes the key and certificate: no Python crypto
dependency for a sandbox-only need.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

CERT_NAME = "ctidesk-sandbox.crt"
KEY_NAME = "ctidesk-sandbox.key"
DAYS = 3650


class TLSError(RuntimeError):
    """The sandbox certificate could not be made; the message says why."""


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    exe = shutil.which("openssl")
    if exe is None:
        raise TLSError("openssl is missing (apt-get install openssl): the sandbox needs it for its WSS certificate")
    proc = subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise TLSError(f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace').strip()[-400:]}")
    return proc.stdout


def certificate_paths(state_dir: Path) -> tuple[Path, Path]:
    d = Path(state_dir) / "tls"
    return d / CERT_NAME, d / KEY_NAME


def ensure_certificate(state_dir: Path, install_dir: Path | None = None) -> Path:
    """Make the certificate once; copy it into ``install_dir`` if given. Returns the cert path."""
    cert, key = certificate_paths(state_dir)
    if not (cert.exists() and key.exists()):
        cert.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(cert.parent, 0o700)
        tmp_key, tmp_cert = key.with_suffix(".tmp-key"), cert.with_suffix(".tmp-crt")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(tmp_key), "-out", str(tmp_cert), "-days", str(DAYS),
                 "-subj", "/CN=127.0.0.1/O=ctidesk sandbox",
                 "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        os.chmod(tmp_key, 0o600)
        os.replace(tmp_key, key)
        os.replace(tmp_cert, cert)
    if install_dir is not None:
        install_dir = Path(install_dir)
        install_dir.mkdir(parents=True, exist_ok=True)
        for src, mode in ((cert, 0o644), (key, 0o600)):
            dst = install_dir / src.name
            data = src.read_bytes()
            if not dst.exists() or dst.read_bytes() != data:
                tmp = dst.with_name("." + dst.name + ".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, dst)
    return cert


def spki_sha256(cert: Path) -> str:
    """Base64 SHA-256 of the certificate's public key (Chromium's SPKI pin format)."""
    pem = _openssl("x509", "-in", str(cert), "-pubkey", "-noout")
    der = _openssl("pkey", "-pubin", "-outform", "der", stdin=pem)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")
