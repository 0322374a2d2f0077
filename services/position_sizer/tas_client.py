"""HTTP client of the Trade Abstraction Service (httpx, keep-alive).  The sizer is the only caller that may open
positions: its token carries the `sizer` role."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx


class TasUnavailable(Exception):
    """The TAS could not be reached or answered 5xx: the command's outcome is unknown; retry with the same key."""


@dataclass(frozen=True)
class TasAnswer:
    http_status: int
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))

    @property
    def msg(self) -> str:
        return str(self.body.get("msg", ""))


class TasClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0, transport: Any = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any], key: str, attempts: int = 3) -> TasAnswer:
        for attempt in range(attempts):
            try:
                response = await self._http.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError as exc:
                raise TasUnavailable(f"{path}: {exc!r}") from exc
            if response.status_code == 429 and attempt + 1 < attempts:
                await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 30.0))
                continue
            if (
                response.status_code == 409
                and response.json().get("status") == "IN_PROGRESS"
                and attempt + 1 < attempts
            ):
                await asyncio.sleep(0.2)
                continue
            if response.status_code >= 500 and response.status_code not in (502, 503):
                raise TasUnavailable(f"{path}: HTTP {response.status_code}")
            return TasAnswer(response.status_code, response.json())
        return TasAnswer(response.status_code, response.json())

    async def long(self, edge: str, symbol: str, signal_id: str, signal_price: Decimal, quantity: Decimal) -> TasAnswer:
        body = {
            "edge": edge,
            "symbol": symbol,
            "signal_id": signal_id,
            "signal_price": str(signal_price),
            "quantity": str(quantity),
        }
        return await self._post("/spot/long", body, key=f"long-{signal_id}")

    async def close(self, edge: str, symbol: str, signal_id: str) -> TasAnswer:
        return await self._post("/spot/close", {"edge": edge, "symbol": symbol}, key=f"close-{signal_id}")

    async def positions(self) -> list[dict[str, Any]]:
        try:
            response = await self._http.get("/spot/positions")
        except httpx.HTTPError as exc:
            raise TasUnavailable(f"/spot/positions: {exc!r}") from exc
        if response.status_code != 200:
            raise TasUnavailable(f"/spot/positions: HTTP {response.status_code}")
        data = response.json()
        return data if isinstance(data, list) else []
