"""Host names to addresses for one sweep: each name looked up once, however many targets share it.

getaddrinfo blocks, and the only lookups that do not are a separate DNS client (c-ares through
aiodns), which skips the system's resolver configuration (nsswitch, its caches); so lookups run in a
few threads of the sweep's own, started with the first name (a sweep of IP addresses starts none).
Not the loop's default executor: asyncio.run waits for its threads before returning, so that a
resolver that hangs would hold a sweep long after its timeout, and a lookup queued behind others
would spend its timeout waiting for a thread.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from coordinator.probes.base import _Failed, _secs

MAX_DNS_THREADS = 32


class Resolver:
    def __init__(self, threads: int = MAX_DNS_THREADS):
        self.threads = max(1, min(threads, MAX_DNS_THREADS))
        self.executor: ThreadPoolExecutor | None = None
        self.free_threads: asyncio.Semaphore | None = None
        self.cache: dict[str, asyncio.Task] = {}

    async def resolve(self, host: str, timeout: float) -> tuple[int, str]:
        """(family, address) of a host: IP literals at once, names once per resolver (IPv4 preferred).
        Raises _Failed("dns", why)."""
        return (await self.addresses(host, timeout))[0]

    async def addresses(self, host: str, timeout: float) -> list[tuple[int, str]]:
        """Every (family, address) of a host, IPv4 first."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [((socket.AF_INET6 if ip.version == 6 else socket.AF_INET), host)]
        task = self.cache.get(host)
        if task is None:
            task = self.cache[host] = asyncio.ensure_future(self._lookup(host, timeout))
        # Shielded: a probe that gives up must not cancel the lookup that other probes wait for.
        return await asyncio.shield(task)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def _lookup(self, host: str, timeout: float) -> list[tuple[int, str]]:
        try:
            infos = await self._in_thread(timeout, socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Failed("dns", f"{host} does not resolve ({exc.strerror or exc})") from None
        except TimeoutError:
            raise _Failed("dns", f"no DNS answer for {host} within {_secs(timeout)}") from None
        found: list[tuple[int, str]] = []
        for family, *_, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr[0]) not in found:
                found.append((family, sockaddr[0]))
        if not found:
            raise _Failed("dns", f"{host} has no IP address")
        # Stable: within a family, the order getaddrinfo gave.
        return sorted(found, key=lambda address: address[0] != socket.AF_INET)

    async def _in_thread(self, timeout: float, fn: Callable, *args):
        """fn(*args) in a thread, waiting at most `timeout` from the moment a thread takes it (so that
        a queue in front of the threads never eats a lookup's timeout). A thread that outlives the
        timeout keeps its place until it ends. Raises TimeoutError."""
        loop = asyncio.get_running_loop()
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="probe-dns")
            self.free_threads = asyncio.Semaphore(self.threads)
        await self.free_threads.acquire()

        def release(_f) -> None:
            try:
                loop.call_soon_threadsafe(self.free_threads.release)
            except RuntimeError:  # the loop is gone: nobody waits for a thread any more
                pass

        try:
            cfuture = self.executor.submit(fn, *args)
        except BaseException:
            self.free_threads.release()
            raise
        cfuture.add_done_callback(release)
        future = asyncio.wrap_future(cfuture)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if not future.done():
                future.cancel()
