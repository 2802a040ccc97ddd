"""A tiny real DNS server for tests: UDP on 127.0.0.1, MX and A records from plain dicts.

Queries are parsed and answers built with dnspython's own message code, so the client under test
talks to a genuine resolver over a real socket. `silent=True` makes a server that records each
query and never replies (the "DNS is down" case).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._server.received(data, addr)


class DnsServer:
    """Authoritative answers for the names it knows, NXDOMAIN for the rest.

    mx: name -> [(preference, exchange host)]; a: name -> [IPv4 address].
    A name listed in either map but without the asked type gets an empty NOERROR (NODATA).
    """

    def __init__(
        self,
        mx: Mapping[str, Sequence[tuple[int, str]]] | None = None,
        a: Mapping[str, Sequence[str]] | None = None,
        *,
        silent: bool = False,
        ttl: int = 60,
    ) -> None:
        self._mx = {k.lower().rstrip("."): list(v) for k, v in (mx or {}).items()}
        self._a = {k.lower().rstrip("."): list(v) for k, v in (a or {}).items()}
        self._silent = silent
        self._ttl = ttl
        self._transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []
        """(name, type) of every query received, in order."""

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to hand to the resolver under test."""
        assert self._transport is not None, "start() the server first"
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        return self.address

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        reply = self.answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def answer(self, wire: bytes) -> bytes | None:
        """The reply to one query datagram, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        if self._silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name not in self._mx and name not in self._a:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if question.rdtype == dns.rdatatype.MX and self._mx.get(name):
            texts = [f"{pref} {_absolute(host)}" for pref, host in self._mx[name]]
            response.answer.append(self._rrset(question.name, dns.rdatatype.MX, texts))
        elif question.rdtype == dns.rdatatype.A and self._a.get(name):
            response.answer.append(self._rrset(question.name, dns.rdatatype.A, self._a[name]))
        return response.to_wire()

    def _rrset(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, texts: Sequence[str]
    ) -> dns.rrset.RRset:
        return dns.rrset.from_text_list(name, self._ttl, dns.rdataclass.IN, rdtype, list(texts))


def _absolute(host: str) -> str:
    return host if host.endswith(".") else f"{host}."
