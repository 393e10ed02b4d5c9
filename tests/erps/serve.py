"""Run the made-up test ERPs on loopback until interrupted (docs/integrate-by-configuration.md).

``python -m tests.erps.serve > erps.env`` starts SIGMUN (REST) and ATENDE (SOAP 1.2) on free
ports and prints shell ``export`` lines: their addresses and the credentials they accept.
"""

from __future__ import annotations

import signal
import sys
import threading

from . import atende_soap, sigmun


def main() -> None:
    rest = sigmun.serve()
    soap = atende_soap.serve()
    lines = [
        f"export SIGMUN_URL={rest.base_url}",
        f"export SIGMUN_API_KEY={rest.credentials[1]}",
        f"export ATENDE_URL={soap.base_url}",
        f"export ATENDE_USER={soap.credentials[0]}",
        f"export ATENDE_PASSWORD={soap.credentials[1]}",
        f"export ATENDE_WSDL={atende_soap.WSDL}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        rest.stop()
        soap.stop()


if __name__ == "__main__":
    main()
