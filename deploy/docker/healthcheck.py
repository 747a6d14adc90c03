"""Container health check: GET a URL (default /health/) with only the standard library.

The slim image has no curl. Django answers 400 to a Host outside ALLOWED_HOSTS, so the
request names the first allowed host; /health/ is exempt from the HTTPS redirect.
Exit 0 on HTTP 200, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/health/"


def host_header() -> str | None:
    """Return the first concrete host in ALLOWED_HOSTS, if any."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        name = host.strip().lstrip(".")
        if name and name != "*":
            return name
    return None


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    if not url.startswith(("http://", "https://")):
        print(f"healthcheck: not an HTTP URL: {url}", file=sys.stderr)  # noqa: T201
        return 1
    request = urllib.request.Request(url)  # noqa: S310 - the scheme is checked above
    host = host_header()
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
