"""The application's response class: whole bodies leave as one ``bytes`` object.

PEP 3333 lets an application return any iterable; Werkzeug always returns an iterator object,
even for a body it already holds in memory.  A server must then pull the body chunk by chunk
through Python; Granian's path for iterators costs about a third of a worker's CPU on a CIBA
login (profile in docs/performance.md), where a list goes out in one write.  Streamed bodies
(Server-Sent Events, files) keep their iterator.
"""

from __future__ import annotations

from flask import Response


class BufferedBodyResponse(Response):
    def get_app_iter(self, environ):
        """PEP 3333 "The Application/Framework Side": a list is a valid application iterable."""
        app_iter = super().get_app_iter(environ)
        if not self.is_sequence:
            return app_iter
        try:
            body = b"".join(app_iter)
        finally:
            # The server never sees the iterator, so it cannot call close() on it.
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return [body]
