"""The address the banner and READY=1 report is the listening socket's own."""

from __future__ import annotations

import socket

import httpx
import pytest

from appliance.server import listen_url, uvicorn_config
from appliance.settings import ServerSettings


def test_listen_url_names_the_port_really_bound() -> None:
    """Asked for port 0, the socket gets a free port and the URL names that port; the socket
    is listening before the server runs (a client connects at once, not refused)."""
    config = uvicorn_config(object(), ServerSettings(), host="127.0.0.1", port=0)
    listener = config.bind_socket()
    listener.listen(8)
    try:
        port = listener.getsockname()[1]
        assert port != 0
        assert listen_url(listener, tls=False) == f"http://127.0.0.1:{port}"
        assert listen_url(listener, tls=True) == f"https://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        listener.close()


def test_listen_url_brackets_ipv6_hosts() -> None:
    """An IPv6 listener's URL puts the address in brackets, as URLs require."""
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        try:
            listener.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this host")
        url = listen_url(listener, tls=False)
        assert url == f"http://[::1]:{listener.getsockname()[1]}"
        assert httpx.URL(url).port == listener.getsockname()[1]
    finally:
        listener.close()
