"""A sync worker's finished connection, closed at once when the client left nothing unread.

gunicorn's sync worker ends every connection with util.close_graceful (RFC 9112, section 9.6):
it sends FIN, then reads until the client closes its side too, for up to 2 s, because close()
on a socket with unread request bytes in the kernel's buffer sends RST instead of FIN, and an RST
can destroy the answer before the client has read it. Waiting for the client's FIN takes a round
trip in which the worker serves nothing: under a stream of creates (W4 of `make bench`) the
workers' answers went up ~4 % once they stopped waiting when there was nothing to wait for.

When nothing is unread, close() sends FIN, never RST: there is nothing to drain. gunicorn calls
post_request (gunicorn.conf.py) once the answer is written; close_when_drained() closes the
socket there if the app read the request's body to its end (Content-Length's count of bytes:
a GET's is 0) and a peek that never waits finds nothing more from the client. gunicorn's own
close_graceful then finds the socket closed and returns. Anything else (a body the app did not
read, or still on its way; a chunked body; a second request) leaves the socket to close_graceful,
as before; so does every other worker class (gthread keeps connections alive) and every answer
whose headers never went out (gunicorn may still write its error page). ltplabs/tests/
test_quick_close.py tries each case on gunicorn's own request and response objects, and
tests/test_http.py sends a real gunicorn a body it refuses unread. Nothing here imports Django:
gunicorn loads its config first.
"""

from __future__ import annotations

import socket

from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker


def close_when_drained(worker, req, resp) -> bool:
    """Close the answered connection if nothing is left to read on it; whether it did."""
    if not isinstance(worker, SyncWorker) or resp is None or not resp.headers_sent:
        return False
    reader = getattr(getattr(req, "body", None), "reader", None)
    if type(reader) is not LengthReader or reader.length != 0:
        return False  # the body's end not read (or not known to be): its bytes may still arrive
    sock = resp.sock
    try:
        if sock.gettimeout() is not None:  # peeking must never wait (gunicorn's sync sockets block, untimed)
            return False
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                return False  # bytes the app never read
        except BlockingIOError:
            pass  # nothing has arrived (b"" instead: the client closed its side, nothing more can)
        sock.close()
        return True
    except OSError:
        return False  # a reset or closed socket: close_graceful deals with it
