"""ltplabs/http/quick_close.py on gunicorn's own request and response objects over a real TCP
connection: a connection whose request was read to its end is closed at once and the client reads
the whole answer, then a clean end (FIN, not a reset); a body left unread, bytes sent after the
request, an answer not yet started, and other worker classes are left to gunicorn's close_graceful."""

import select
import socket

import pytest
from gunicorn.config import Config
from gunicorn.http import RequestParser
from gunicorn.http.wsgi import create
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from ltplabs.http.quick_close import close_when_drained

SYNC_WORKER = SyncWorker.__new__(SyncWorker)  # isinstance() is all close_when_drained asks of it


@pytest.fixture
def connection():
    """(client socket, the server's accepted socket), over loopback TCP."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setblocking(True)  # as gunicorn's sync worker has it
    yield client, server
    client.close()
    server.close()


def answer(client, server, request: bytes, *, read_body: bool = True, start: bool = True, then: bytes = b""):
    """Send `request` from the client, and once gunicorn has parsed it, `then`; read and answer it as gunicorn does."""
    client.sendall(request)
    cfg = Config()
    req = next(RequestParser(cfg, server, ("127.0.0.1", 1)))
    if then:
        client.sendall(then)
        assert select.select([server], [], [], 10)[0]  # until they are in the server's kernel buffer
    resp, environ = create(req, server, ("127.0.0.1", 1), server.getsockname(), cfg)
    resp.force_close()
    if read_body:
        environ["wsgi.input"].read()
    if start:
        resp.start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        resp.write(b"ok")
        resp.close()
    return req, resp


def read_all(client) -> bytes:
    client.settimeout(5)
    chunks = []
    while chunk := client.recv(65536):  # raises ConnectionResetError on a reset
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_read_to_its_end_is_closed_at_once_and_the_client_reads_all_of_the_answer(connection):
    client, server = connection
    req, resp = answer(client, server, b"POST /api/clients HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert close_when_drained(SYNC_WORKER, req, resp)
    assert server.fileno() == -1
    received = read_all(client)
    assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"\r\n\r\nok")


def test_a_get_is_closed_at_once(connection):
    client, server = connection
    req, resp = answer(client, server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert close_when_drained(SYNC_WORKER, req, resp)
    assert read_all(client).endswith(b"ok")


@pytest.mark.parametrize(
    "request_bytes,options",
    [
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", {"read_body": False}),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhello", {"read_body": False}),
        (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", {"then": b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"}),
    ],
    ids=["a body the app did not read", "a body still on its way", "bytes sent after the request"],
)
def test_anything_left_to_read_is_left_to_close_graceful(connection, request_bytes, options):
    client, server = connection
    req, resp = answer(client, server, request_bytes, **options)
    assert not close_when_drained(SYNC_WORKER, req, resp)
    assert server.fileno() != -1


def test_an_answer_not_started_and_other_worker_classes_are_left_alone(connection):
    client, server = connection
    req, resp = answer(client, server, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", start=False)
    assert not close_when_drained(SYNC_WORKER, req, resp)
    resp.start_response("200 OK", [("Content-Length", "2")])
    resp.write(b"ok")
    assert not close_when_drained(ThreadWorker.__new__(ThreadWorker), req, resp)  # it keeps connections alive
    assert server.fileno() != -1
