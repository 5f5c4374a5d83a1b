"""JSON API test helpers: a module-wide web process (gunicorn, as the Procfile runs it) and a
client that sends bearer-token JSON requests to it over real HTTP.

Each test makes its own workspace (``team``) so tests sharing the web process stay apart.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

from crm import tokens
from crm.acting import Actor
from tests.conftest import Workspace, make_workspace
from tests.e2e_support import Response, Site, http, site_fixture

site = site_fixture("api")
_teams = itertools.count(1)


@dataclass
class Api:
    """A bearer-token client of one workspace."""

    base: str
    token: str
    workspace: Workspace

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        sent = {"Accept": "application/json"}
        use = self.token if token == "" else token
        if use is not None:
            sent["Authorization"] = f"Bearer {use}"
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        url = path if path.startswith("http") else f"{self.base}/cms/crm{path}"
        return http(method, url, data, sent)

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("PATCH", path, body, **kw)

    def token_for(self, scope: str = "write", name: str = "other") -> str:
        _, plaintext = tokens.create_token(self.system, name, scope)
        return plaintext

    @property
    def system(self) -> Actor:
        return Actor.system(self.workspace.company.id, "cli")


def new_api(site: Site, scope: str = "write") -> Api:
    """A fresh workspace on the site's database and a token of it."""
    n = next(_teams)
    team = f"T{n % 100:02d}API{uuid.uuid4().hex[:4].upper()}"  # [1:3] keeps user ids apart
    workspace = make_workspace(team, f"Api {n}")
    _, plaintext = tokens.create_token(Actor.system(workspace.company.id, "cli"), "tests", scope)
    return Api(site.web.url, plaintext, workspace)


def error(r: Response) -> dict[str, Any]:
    """The ``error`` object of a refusal, checked for SPEC 8's shape."""
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "field"} <= set(body["error"]), body
    return body["error"]


__all__ = ["Api", "error", "new_api", "site"]
