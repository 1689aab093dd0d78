"""``python -m strangler_proxy``: run the proxy from environment settings.

With ``STRANGLER_PROXY_WORKERS=N>1`` this process is a supervisor: it binds
nothing itself, starts N worker processes that each listen on the same port
with SO_REUSEPORT (the kernel spreads connections), forwards SIGTERM/SIGINT
to them, restarts a worker that dies unexpectedly, and exits when all have
stopped. Each worker listens for route changes itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time

from strangler_proxy import logs
from strangler_proxy.settings import ProxySettings, SettingsError

log = logging.getLogger("strangler_proxy")


async def _serve(settings: ProxySettings) -> None:
    from strangler_proxy.app import ProxyApp

    app = ProxyApp(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    await stop.wait()
    log.info("signal received; draining")
    await app.stop()


def run_worker(settings: ProxySettings) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(_serve(settings))
        return
    uvloop.run(_serve(settings))


def supervise(settings: ProxySettings) -> int:
    env = dict(os.environ)
    env["STRANGLER_PROXY_ROLE"] = "worker"
    metrics_dir = tempfile.mkdtemp(prefix="strangler-metrics-")
    env.setdefault("STRANGLER_METRICS_DIR", metrics_dir)
    stopping = False

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "strangler_proxy"], env=env)

    workers = [spawn() for _ in range(settings.workers)]
    started = [time.monotonic()] * len(workers)
    quick_deaths = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for w in workers:
            if w.poll() is None:
                w.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("supervisor started workers", extra={"workers": [w.pid for w in workers]})
    while True:
        time.sleep(0.2)
        if stopping:
            deadline = time.monotonic() + 15
            for w in workers:
                try:
                    w.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    w.kill()
            return 0
        for i, w in enumerate(workers):
            if w.poll() is not None and not stopping:
                log.error("worker exited; restarting", extra={"pid": w.pid, "code": w.returncode})
                quick_deaths = quick_deaths + 1 if time.monotonic() - started[i] < 5 else 0
                if quick_deaths >= 5:
                    log.error("workers keep dying at start; giving up")
                    on_signal(signal.SIGTERM, None)
                    for other in workers:
                        other.wait(15)
                    return 1
                time.sleep(0.5)
                workers[i] = spawn()
                started[i] = time.monotonic()


def main() -> int:
    logs.setup()
    try:
        settings = ProxySettings.from_env()
    except SettingsError as exc:
        print(f"strangler-proxy: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.workers > 1 and os.environ.get("STRANGLER_PROXY_ROLE") != "worker":
        return supervise(settings)
    run_worker(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
