"""The local certificate authority of intercept mode (docs/intercept.md), built with `cryptography`.

Created on first use in one directory (``<config>/ca``, see ``segdbg ca --path``): ``ca.pem``, the
certificate users trust, and ``ca-key.pem``, its private key, mode 0600 in a 0700 directory. The key is
read from there and never written anywhere else. Leaf certificates (one per Segment host, signed by the
CA, a fresh key each) live in memory for the life of the process; :meth:`CertificateAuthority.context`
caches the TLS context per host.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The files of the CA inside its directory.
CERT_FILE, KEY_FILE = "ca.pem", "ca-key.pem"
#: How long the CA is valid, and each leaf (under the 398 days browsers accept for a leaf).
CA_DAYS, LEAF_DAYS = 3650, 365
#: Whose CA it is, in every certificate it signs (users see this name in their trust stores).
CA_NAME = "segdbg local intercept CA"


class CAError(Exception):
    """The CA directory cannot be created or read (permissions, a damaged file)."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


class CertificateAuthority:
    """The CA in ``directory``, created there on first use.

    Args:
        directory: where ``ca.pem`` and ``ca-key.pem`` live (created 0700 if missing).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: _Loaded | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.RLock()

    @property
    def cert_path(self) -> Path:
        """The CA certificate to trust (PEM)."""
        return self.directory / CERT_FILE

    @property
    def key_path(self) -> Path:
        """The CA's private key (PEM, mode 0600)."""
        return self.directory / KEY_FILE

    def ensure(self) -> x509.Certificate:
        """Load the CA, creating it first if there is none; returns its certificate.

        Raises:
            CAError: the directory cannot be written, or its files cannot be read.
        """
        with self._lock:
            if self._loaded is None:
                if not self.cert_path.exists():
                    self._create()
                self._loaded = self._load()
            return self._loaded.cert

    def context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a leaf certificate for ``host`` (cached per host)."""
        self.ensure()
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = self._server_context(host)
            return context

    def leaf(self, host: str) -> tuple[bytes, bytes]:
        """A new leaf certificate for ``host`` signed by the CA, and its key: both PEM."""
        self.ensure()
        assert self._loaded is not None
        ca = self._loaded
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(signing=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    def _server_context(self, host: str) -> ssl.SSLContext:
        cert, key = self.leaf(host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])  # segdbg speaks HTTP/1.1; no client may pick h2
        # load_cert_chain reads only files: the leaf (never the CA's key) goes through a 0600 file in
        # the CA's own directory that is deleted as soon as it is read.
        handle, name = tempfile.mkstemp(prefix=".leaf-", suffix=".pem", dir=self.directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(cert + key)
            context.load_cert_chain(name)
        finally:
            os.unlink(name)
        return context

    def _create(self) -> None:
        """Write a new CA into a private temporary directory, then rename it into place: two processes
        starting at once end up with the same CA (the second rename fails and that process loads the first's)."""
        parent = self.directory.parent
        try:
            parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            staging = Path(tempfile.mkdtemp(prefix=".ca-", dir=parent))  # mkdtemp makes it 0700
        except OSError as exc:
            raise CAError(f"cannot create the CA directory {self.directory}: {exc.strerror or exc}") from exc
        try:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _ca_certificate(key)
            _write(staging / KEY_FILE, _key_pem(key), 0o600)
            _write(staging / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            try:
                staging.rename(self.directory)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not self.cert_path.exists():
                    raise CAError(f"cannot create the CA in {self.directory}: {exc.strerror or exc}") from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _load(self) -> _Loaded:
        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise CAError(
                f"cannot read the intercept CA in {self.directory}: {exc}. "
                "Remove that directory to have segdbg create a new CA (and trust the new one)."
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CAError(f"{self.key_path} is not the EC key segdbg writes; remove {self.directory} to start over.")
        return _Loaded(cert, key)


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "segdbg"), x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signing=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signing,
        crl_sign=signing,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never a moment with wider permissions)."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    with contextlib.suppress(OSError):
        os.chmod(path, mode)  # against a umask that narrowed the certificate's mode
