"""``ser-api``: run the API with ``SER_WORKERS`` processes, each on its own listening socket.

uvicorn's ``--workers`` hands one shared socket to every worker; whichever worker's event
loop wakes first accepts every pending connection, so a handful of keep-alive clients often
all land on one worker while the other idles (measured: 87 vs 948 CPU ticks over a 12-s
8-client run, 129 instead of 235 requests/s). Here each worker gets its own socket bound to
the same address with ``SO_REUSEPORT``, and the kernel spreads new connections across them.
Supervision is uvicorn's: a dead worker is replaced, on the same socket, so connections
already queued on that socket are served by the replacement.

Settings: ``SER_HOST``, ``SER_PORT``, ``SER_WORKERS`` (ser_api.config).
Run with ``ser-api`` or ``python -m ser_api.serve``.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger

from ser_api.config import ENV_PREFIX, Settings, get_settings

APP = "ser_api.main:app"
LISTEN_BACKLOG = 2048  # connections; uvicorn's default
GRACEFUL_SHUTDOWN_S = 10  # s a worker may take to finish its requests on SIGTERM


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind to the same address too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


class ReusePortSupervisor(Multiprocess):
    """uvicorn's supervisor, with worker ``i`` always serving ``sockets[i]``."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.worker_sockets = sockets

    def _start(self, index: int) -> Process:
        process = Process(self.config, [self.worker_sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._start(index) for index in range(len(self.worker_sockets))]

    def restart_all(self) -> None:  # SIGHUP: replace the workers one by one
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            old.terminate()
            old.join()
            self.processes[index] = self._start(index)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or dead: make sure it is gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # The app cannot start (bad model, bad settings): restarting would loop.
                logger.error("worker [%s] failed to start, stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; starting a replacement", process.pid)
            self.processes[index] = self._start(index)


def uvicorn_config(settings: Settings, app: str = APP) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # the request middleware logs each request with its id
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def argument_parser() -> argparse.ArgumentParser:
    """``ser-api [APP]``; ``--help`` lists every ``SER_*`` setting with its default."""
    settings = "\n".join(
        f"  {ENV_PREFIX}{name.upper()} (default: {field.get_default(call_default_factory=True)})"
        f"\n      {field.description}"
        for name, field in Settings.model_fields.items()
    )
    parser = argparse.ArgumentParser(
        prog="ser-api",
        description="Serve the speech emotion API with SER_WORKERS processes, each on its own "
        "SO_REUSEPORT socket. Configured from the environment (or a .env file).",
        epilog=f"settings (environment variables):\n{settings}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "app",
        nargs="?",
        default=APP,
        help="ASGI app to serve, module:attribute (default: %(default)s); the benchmarks serve "
        "their decode-only yardstick this way",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Serve ``ser_api.main:app``, or the ASGI app named by the one optional argument
    (the benchmarks serve their decode-only yardstick the same way)."""
    args = argument_parser().parse_args(argv)  # argv None: the command line
    settings = get_settings()
    config = uvicorn_config(settings, args.app)
    if settings.workers == 1:
        uvicorn.Server(config).run()
        return
    sockets = [reuse_port_socket(settings.host, settings.port) for _ in range(settings.workers)]
    ReusePortSupervisor(config, sockets).run()


if __name__ == "__main__":
    main()
