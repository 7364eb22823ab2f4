"""A small HTTP server on 127.0.0.1 serving a folder with byte ranges, ETags and
Last-Modified (Python's own server has no ranges), recording each request's headers (names
in lower case): the "file behind a web server" that virtual chunks are read from."""

from __future__ import annotations

import email.utils
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serve_folder(folder: Path) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Serves ``folder`` until the block ends; yields (base URL, recorded request headers)."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append({"method": self.command, "path": self.path, **headers})
            path = folder / self.path.lstrip("/").split("?")[0]
            if not path.is_file():
                self.send_error(404)
                return
            stat = path.stat()
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if_match = self.headers.get("If-Match")
            if if_match is not None and if_match != etag:
                self.send_error(412)
                return
            since = self.headers.get("If-Unmodified-Since")
            if since is not None:
                limit = email.utils.parsedate_to_datetime(since).timestamp()
                if int(stat.st_mtime) > limit:
                    self.send_error(412)
                    return
            size = stat.st_size
            start, end = 0, size - 1
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes="):
                first, _, last = wanted[len("bytes=") :].partition("-")
                if first:
                    start, end = int(first), min(int(last) if last else size - 1, size - 1)
                else:
                    start = max(0, size - int(last))
                if start >= size:
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
            self.end_headers()
            if body:
                with open(path, "rb") as f:
                    f.seek(start)
                    self.wfile.write(f.read(end - start + 1))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


__all__ = ["serve_folder"]
