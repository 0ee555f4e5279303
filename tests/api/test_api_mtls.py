"""Optional mutual TLS: with a client CA set, only clients with a signed certificate connect."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.api.app import create_app
from appliance.server import api_services, uvicorn_config
from appliance.settings import ServerSettings
from appliance.wiring import Appliance
from tests.api.conftest import _free_port

NOW = dt.datetime.now(dt.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key, issuer: str, signer, *, ca: bool = False, ip: bool = False):
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert, key=None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    ca_key = _key()
    ca = _cert("test-ca", ca_key, "test-ca", ca_key, ca=True)
    server_key, client_key = _key(), _key()
    _write(tmp_path / "ca.pem", ca)
    _write(
        tmp_path / "server.pem",
        _cert("appliance", server_key, "test-ca", ca_key, ip=True),
        server_key,
    )
    _write(tmp_path / "client.pem", _cert("ehr-system", client_key, "test-ca", ca_key), client_key)
    return tmp_path


def test_mutual_tls_admits_only_certified_clients(appliance: Appliance, pki: Path) -> None:
    """A client with a CA-signed certificate is served; one without is refused at handshake."""
    server = ServerSettings(
        tls_cert_file=str(pki / "server.pem"),
        tls_key_file=str(pki / "server.key"),
        tls_client_ca_file=str(pki / "ca.pem"),
    )
    state = api_services(appliance)
    port = _free_port()
    runner = uvicorn.Server(uvicorn_config(create_app(state), server, host="127.0.0.1", port=port))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while not runner.started:
        time.sleep(0.02)
    url = f"https://127.0.0.1:{port}/healthz"
    try:
        certified = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        certified.load_cert_chain(pki / "client.pem", pki / "client.key")
        with httpx.Client(verify=certified) as client:
            assert client.get(url).json() == {"status": "alive"}
        anonymous = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with pytest.raises(httpx.HTTPError), httpx.Client(verify=anonymous) as client:
            client.get(url)
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


def test_tls_settings_are_validated(pki: Path) -> None:
    """A certificate without its key, or a client CA without a certificate, stops the start."""
    from appliance.errors import ConfigError

    with pytest.raises(ConfigError, match="set together"):
        ServerSettings(tls_cert_file=str(pki / "server.pem"))
    with pytest.raises(ConfigError, match=r"needs server\.tls_cert_file"):
        ServerSettings(tls_client_ca_file=str(pki / "ca.pem"))
