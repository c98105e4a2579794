"""A Pro Santé Connect resource server's token check with pyjwt-key-fetcher
(https://github.com/ioxiocom/pyjwt-key-fetcher, its README's "Usage"): an ``AsyncKeyFetcher``
limited to the realm by ``valid_issuers``, ``await fetcher.get_key(token)`` — the key the token's
``kid`` names in the JWK Set of the discovery document found from its ``iss`` — then
``jwt.decode(token, **key, issuer=…)``, the key's algorithms those of its JWK's ``alg``.

It runs from its own virtual environment (``.venv`` beside this file), not the suite's: the
library's aiohttp, aiocache and cachetools are none of the project's. ``python api.py``; its
configuration a JSON document in ``PYJWT_KEY_FETCHER_API``: ``port`` and ``issuer``. The
library's HTTP client is its ``DefaultHTTPClient`` (an ``aiohttp.ClientSession`` with aiohttp's
default TLS context): santeid's development authority is trusted through ``SSL_CERT_FILE``,
which that context reads (https://docs.python.org/3/library/ssl.html#ssl.create_default_context),
nothing else relaxed.

Its routes, on ``127.0.0.1``:

- ``GET /health``;
- ``POST /decode``, a JSON body ``token``, ``audience`` (optional: ``jwt.decode``'s) and
  ``fetcher``, a name: the fetcher of that name, made at its first use and kept, as a running
  API keeps one (its caches with it), checks the token. 200 with the ``claims``, the ``kid`` and
  the key's ``algorithms``; 401 with the name of the exception raised (the library's or
  PyJWT's) and its message;
- ``GET /fetched?fetcher=<name>``: every URL that fetcher's HTTP client fetched, in order, with
  the ``kid`` of each key of a JWK Set it got — what reached santeid;
- ``POST /rate-limit-over``: the end of the library's rate limit on JWK Set fetches. It keeps
  the set it fetched 300 s in aiocache's memory (``Provider._fetch_jwk_map`` is
  ``@aiocache.cached(ttl=300)``), and a ``kid`` it does not know fetches the set again only once
  that entry is gone; a test cannot wait 300 s, so this empties that cache, which is what
  aiocache's timer does when the 300 s are over."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jwt
from aiohttp import web
from pyjwt_key_fetcher import AsyncKeyFetcher
from pyjwt_key_fetcher import DefaultHTTPClient
from pyjwt_key_fetcher.errors import JWTKeyFetcherError
from pyjwt_key_fetcher.provider import Provider


class RecordingHTTPClient(DefaultHTTPClient):
    """The library's own aiohttp client (made within the running event loop, as aiohttp's
    ``ClientSession`` must be), noting what it fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[dict[str, Any]] = []

    async def get_json(self, url: str) -> dict[str, Any]:
        data = await super().get_json(url)
        keys = data.get("keys")
        self.fetched.append(
            {"url": url, "kids": [key.get("kid") for key in keys] if keys is not None else None}
        )
        return data


def create_app(config: dict) -> web.Application:
    fetchers: dict[str, AsyncKeyFetcher] = {}
    clients: dict[str, RecordingHTTPClient] = {}

    def fetcher_named(name: str) -> AsyncKeyFetcher:
        if name not in fetchers:
            clients[name] = RecordingHTTPClient()
            fetchers[name] = AsyncKeyFetcher(
                valid_issuers=[config["issuer"]], http_client=clients[name]
            )
        return fetchers[name]

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def decode(request: web.Request) -> web.Response:
        asked = await request.json()
        token = asked["token"]
        try:
            key = await fetcher_named(asked["fetcher"]).get_key(token)
            claims = jwt.decode(
                token, **key, issuer=config["issuer"], audience=asked.get("audience")
            )
        except (JWTKeyFetcherError, jwt.PyJWTError) as error:
            refused = {"error": type(error).__name__, "message": str(error)}
            return web.json_response(refused, status=401)
        answer = {"claims": claims, "kid": jwt.get_unverified_header(token)["kid"]}
        return web.json_response({**answer, "algorithms": key["algorithms"]})

    async def fetched(request: web.Request) -> web.Response:
        client = clients.get(request.query["fetcher"])
        return web.json_response(client.fetched if client else [])

    async def rate_limit_over(request: web.Request) -> web.Response:
        await Provider._fetch_jwk_map.cache.clear()
        return web.Response(text="ok")

    async def close_clients(app: web.Application) -> None:
        for client in clients.values():
            await client.session.close()

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/decode", decode)
    app.router.add_get("/fetched", fetched)
    app.router.add_post("/rate-limit-over", rate_limit_over)
    app.on_cleanup.append(close_clients)
    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    config = json.loads(os.environ["PYJWT_KEY_FETCHER_API"])
    web.run_app(create_app(config), host="127.0.0.1", port=config["port"], print=None)


if __name__ == "__main__":
    main()
