"""A minimal WebSocket client on a plain socket: handshake, short text messages, close."""

from __future__ import annotations

import base64
import os
import socket


def open_websocket(host: str, port: int, path: str = "/ws") -> tuple[socket.socket, bytes]:
    """Connect and ask for the upgrade; the socket and the answer's head."""
    sock = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: Upgrade\r\n"
        f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        "\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        if not piece:
            break
        head += piece
    return sock, head


def send_text(sock: socket.socket, text: str) -> None:
    """One masked text frame (under 126 bytes)."""
    data = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)


def receive_text(sock: socket.socket) -> str:
    """One unmasked text frame from the server (under 126 bytes)."""
    head = _exactly(sock, 2)
    return _exactly(sock, head[1] & 0x7F).decode()


def close_websocket(sock: socket.socket) -> None:
    """Send a close frame and close the socket."""
    sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
    sock.close()


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise ConnectionError("closed mid-frame")
        data += piece
    return data
