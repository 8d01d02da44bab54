"""`segdbg serve --forward` from a process of its own (docs/forward.md): the server's loop only hands each
accepted request over a pipe, and a :class:`~debugger.replay.forward.Forwarder` in a child process
plans, sends, retries and records it.

Why a process: the forwarder's work (an HTTP request per accepted request, its retries, the deliveries
it records) costs the event loop about as much as ingest itself (docs/performance.md, "Forward"), and a
client's request that arrives behind a few forwards waits for them. On another process it runs on the
other CPU; on the server's loop there is only pickling and a buffered, non-blocking write.

The pipe carries one frame per request (multiprocessing's own framing: a 4-byte length, then the
pickled request and items), written through an asyncio pipe transport, so a slow child never blocks
the server: frames wait in the transport's buffer. The child reads frames until the pipe closes, then
drains and finishes its runs, and sends each upstream's result back on a second pipe.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import struct
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from debugger.replay.forward import ForwardConfig, Forwarder, Handled, UpstreamResult, forwardable, items_of

log = logging.getLogger(__name__)

#: Seconds to wait for the child beyond its own drain time before it is stopped.
GRACE = 30.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """One upstream as the parent knows it: where, and the run its deliveries are recorded in."""

    target: str
    run_id: int


class ForwardError(RuntimeError):
    """The forwarding process could not start (its message says why)."""


class ForwardProcess:
    """The same interface as :class:`~debugger.replay.forward.Forwarder` (``start``, ``offer``,
    ``close``, ``upstreams``, ``config``), with the forwarder in a child process."""

    def __init__(self, config: ForwardConfig) -> None:
        self.config = config
        self.upstreams: list[Upstream] = []
        self._process: Any = None
        self._transport: asyncio.WriteTransport | None = None
        self._control: Connection | None = None
        self._lost = 0

    async def start(self) -> None:
        """Start the child and wait until every upstream's run is recorded.

        Raises:
            ForwardError: the child could not start its runs (the capture cannot be written, ...).
        """
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no threads or loops inherited
        jobs_read, jobs_write = context.Pipe(duplex=False)
        control_read, control_write = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child, args=(self.config, jobs_read, control_write), name="segdbg-forward", daemon=True
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._process.start)
        jobs_read.close()
        control_write.close()
        self._control = control_read
        kind, payload = await loop.run_in_executor(None, control_read.recv)
        if kind != "started":
            await loop.run_in_executor(None, self._process.join, GRACE)
            raise ForwardError(str(payload))
        self.upstreams = [Upstream(target, run_id) for target, run_id in payload]
        self._transport, _ = await loop.connect_write_pipe(asyncio.Protocol, jobs_write)

    def offer(self, handled: Handled) -> None:
        """Hand a handled request to the child (the server's observer; never waits)."""
        if self._transport is None or not forwardable(handled):
            return
        if self._transport.is_closing():
            self._lost += 1
            return
        data = pickle.dumps((handled.request, items_of(handled)), protocol=pickle.HIGHEST_PROTOCOL)
        self._transport.write(struct.pack("!i", len(data)) + data)

    async def close(self) -> list[UpstreamResult]:
        """Close the pipe (the child drains what it has, then finishes its runs) and return each upstream's result."""
        if self._transport is None or self._control is None:
            return []
        loop = asyncio.get_running_loop()
        self._transport.close()  # flushes what is buffered, then the child reads the end of the pipe
        control = self._control
        timeout = self.config.drain_timeout + GRACE
        try:
            ready = await loop.run_in_executor(None, control.poll, timeout)
            kind, payload = await loop.run_in_executor(None, control.recv) if ready else ("lost", None)
        except EOFError:
            kind, payload = "lost", None
        await loop.run_in_executor(None, self._process.join, GRACE)
        if self._process.is_alive():
            self._process.kill()
        control.close()
        if kind != "results":
            log.error("the forwarding process ended without its results (exit code %s)", self._process.exitcode)
            return [
                UpstreamResult(
                    u.target, u.run_id, {"delivered": 0, "not_delivered": 0}, "the forwarding process was lost"
                )
                for u in self.upstreams
            ]
        results: list[UpstreamResult] = list(payload or ())
        if self._lost:
            log.error("%d requests arrived while forwarding was stopping and were not forwarded", self._lost)
        return results


def _child(config: ForwardConfig, jobs: Connection, control: Connection) -> None:
    """The child process: a forwarder fed from the pipe until it closes."""
    asyncio.run(_forward(config, jobs, control))


async def _forward(config: ForwardConfig, jobs: Connection, control: Connection) -> None:
    forwarder = Forwarder(config)
    try:
        await forwarder.start()
    except Exception as exc:  # noqa: BLE001 - said to the parent, which stops serve with it
        control.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    control.send(("started", [(u.target, u.run_id) for u in forwarder.upstreams]))
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.run_in_executor(None, jobs.recv_bytes)
        except (EOFError, OSError):
            break
        request, items = pickle.loads(data)
        forwarder.offer_parts(request, items)
    control.send(("results", await forwarder.close()))
