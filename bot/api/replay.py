"""``Idempotency-Key`` on any ``POST`` (SPEC 8): the same key with the same request answers the
first response again and creates nothing; with a different request, 409.

The fingerprint is the method, path, query string and body bytes, so "the same body" means
byte for byte what the client sent the first time (a retry resends the same bytes). The key
is claimed in the database before the request runs (:func:`crm.idempotency.claim_request`),
so two copies sent at once run once: the second is told 409 "still being processed" and its
retry gets the answer. Only a success is kept: a refused request (422, 409 duplicate, ...)
frees its key, so the corrected request may use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Response, request

from bot.api.errors import ApiError
from crm import idempotency
from crm.acting import Actor
from crm.errors import CRMError


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def once(actor: Actor, key: str, run: Callable[[], Response]) -> Response:
    """Run the request the first time its key is seen; answer the stored response after."""
    try:
        claim = idempotency.claim_request(actor, key, _fingerprint())
    except CRMError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
    if not claim.mine:
        response = Response(claim.response or "", claim.status or 200, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = run()
    except BaseException:
        idempotency.release_request(actor, key)
        raise
    if 200 <= response.status_code < 300:
        idempotency.finish_request(
            actor, key, response.status_code, response.get_data(as_text=True)
        )
    else:
        idempotency.release_request(actor, key)
    return response
