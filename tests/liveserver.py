"""A real HTTP server for a Flask app, for browser tests: werkzeug in a daemon thread."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def live_server(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port; yield its base URL (no trailing slash); stop it afterwards."""
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()  # returns once serve_forever has stopped
        server.server_close()
        thread.join(timeout=5)
