"""The admin API over HTTP: SigV4 signing, Idempotency-Key, one retry, errors as exceptions.

A deployed stack's /admin/* routes use AWS_IAM auth: requests are signed with SigV4 for the
``execute-api`` service from the default AWS credential chain. The local stack admits admin calls
from loopback without a signature, so a loopback API is not signed unless asked.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

DEFAULT_API = "http://127.0.0.1:3000"
# The admin routes' first segment. A stack's AdminApiUrl output ends with it, the local stack's API URL does not.
ADMIN_PREFIX = "/admin"
# (connect, read): API Gateway ends an integration after 30 s.
TIMEOUT_S = (5.0, 35.0)
RETRY_DELAY_S = 1.0
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class CliError(Exception):
    """An expected failure: printed without a traceback; ``exit_code`` is the process's."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ApiError(CliError):
    """The API answered 4xx/5xx; ``message`` and ``field`` are from its error body."""

    def __init__(self, status: int, message: str, field: str | None = None, details: list[str] | None = None) -> None:
        super().__init__(message, 2 if status < 500 else 3)
        self.status = status
        self.message = message
        self.field = field
        self.details = details or []

    def __str__(self) -> str:
        text = f"HTTP {self.status}: {self.message}"
        if self.field and self.field not in self.message:
            text += f" (field: {self.field})"
        if self.status == 403 and self.message in ("Forbidden", "Missing Authentication Token"):
            # API Gateway's own words for a request IAM refused or did not see signed.
            text += " (check --sigv4, --region and your AWS credentials)"
        return "\n  ".join([text, *self.details])


class Unreachable(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 3)


def is_loopback(api: str) -> bool:
    host = urlsplit(api).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_base(api: str) -> str:
    """The URL the routes hang from: ``api`` without a trailing slash, and without a trailing
    ``/admin`` (the AdminApiUrl output's), so the output and the API's own URL both work as --api."""
    base = api.rstrip("/")
    return base[: -len(ADMIN_PREFIX)] if urlsplit(base).path.endswith(ADMIN_PREFIX) else base


def path(*segments: str) -> str:
    """``/admin/...`` with every segment percent-encoded (a robot ID's ``@`` and ``#`` too)."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def error_from(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        text = response.text.strip()[:300] or response.reason or "no message"
        return ApiError(response.status_code, text)
    # The first of a 422's errors is its message already.
    given = body.get("errors")
    errors = given if isinstance(given, list) else []
    details = [f"{e.get('field')}: {e.get('message')}" for e in errors[1:] if isinstance(e, dict)]
    return ApiError(response.status_code, body["message"], body.get("field"), details)


def exchange(send: Callable[[], requests.Response], api: str, url: str) -> tuple[int, Any]:
    """``send()``'s status and decoded JSON answer (None for a 204 No Content). Unreachable when
    ``api`` cannot be reached, ApiError for a 4xx/5xx, CliError when the answer is not JSON."""
    try:
        response = send()
    except requests.RequestException as exc:
        raise Unreachable(f"could not reach {api}: {describe(exc)}") from None
    if response.status_code >= 400:
        raise error_from(response)
    if response.status_code == 204:
        return response.status_code, None
    try:
        return response.status_code, response.json()
    except ValueError:
        answered = f"{url} answered HTTP {response.status_code}"
        raise CliError(f"{answered} but not with JSON: is --api right?", 3) from None


class AdminClient:
    def __init__(
        self,
        api: str = DEFAULT_API,
        sigv4: bool | None = None,
        region: str | None = None,
        idempotency_key: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.api = api_base(api)
        self.sigv4 = (not is_loopback(api)) if sigv4 is None else sigv4
        self.region = region
        self.idempotency_key = idempotency_key
        self.verbose = verbose
        self._session = requests.Session()
        self._signer: Any = None

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ verbs

    def get(self, route: str, **query: Any) -> Any:
        return self.request("GET", route, query=query)

    def post(self, route: str, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        return self.request("POST", route, body, idempotency_key=idempotency_key)

    def put(self, route: str, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        return self.request("PUT", route, body, idempotency_key=idempotency_key)

    def delete(self, route: str) -> Any:
        return self.request("DELETE", route)

    def request(
        self,
        method: str,
        route: str,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); ApiError or Unreachable otherwise.

        A POST or PUT carries an Idempotency-Key (the given one, ``--idempotency-key``, or a fresh
        UUID) and is retried once, with the same key, after a connection error or a 5xx; a GET is
        retried as it is. A DELETE is not: had the first one worked, the retry would say 404.
        """
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        # RFC 3986 encoding (spaces as %20), which is what SigV4's canonical query expects.
        url = self.api + route + (f"?{urlencode(params, quote_via=quote, safe='')}" if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        keyed = method in ("POST", "PUT")
        if keyed:
            headers["Idempotency-Key"] = idempotency_key or self.idempotency_key or str(uuid.uuid4())
        self._say(f"{method} {url}" + (f"  Idempotency-Key: {headers['Idempotency-Key']}" if keyed else ""))
        try:
            return self._attempt(method, url, data, headers)
        except (ApiError, Unreachable) as failure:
            if method == "DELETE" or (isinstance(failure, ApiError) and failure.status < 500):
                raise
            same = " with the same Idempotency-Key" if keyed else ""
            print(f"timctl: {failure}; retrying once{same}", file=sys.stderr)
        time.sleep(RETRY_DELAY_S)
        return self._attempt(method, url, data, headers)

    def forward(self, method: str, target: str, data: bytes | None, headers: dict[str, str]) -> requests.Response:
        """One request to ``target`` (a path and query under the API) as given, signed like the others, the
        answer whatever its status: no retry and no Idempotency-Key of its own (`timctl docs`' proxy)."""
        try:
            return self._send(method, self.api + target, data, headers)
        except requests.RequestException as exc:
            raise Unreachable(f"could not reach {self.api}: {describe(exc)}") from None

    # ------------------------------------------------------------------ transport

    def _attempt(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Any:
        return exchange(lambda: self._send(method, url, data, headers), self.api, url)[1]

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> requests.Response:
        if self.sigv4:
            headers = self._sign(method, url, data, headers)
        return self._session.request(method, url, data=data, headers=headers, timeout=TIMEOUT_S)

    def _sign(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        try:
            if self._signer is None:
                self._signer = _signer_for(self.api, self.region)
                self._say(f"signing with SigV4 for execute-api in {self._signer[1]}")
            credentials, region = self._signer
            # Frozen per request: refreshable credentials cannot change halfway through a signature.
            frozen = credentials.get_frozen_credentials()
        except BotoCoreError as exc:  # a missing profile, an expired SSO session, ...
            raise CliError(f"AWS credentials: {exc}") from None
        request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(frozen, "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr)


def _signer_for(api: str, region: str | None) -> tuple[Any, str]:
    import boto3

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise CliError(
            "no AWS credentials found to sign the request with (configure the default credential chain: "
            "AWS_PROFILE, ~/.aws, SSO, an instance role), or pass --no-sigv4"
        )
    host = _EXECUTE_API_HOST.match(urlsplit(api).hostname or "")
    region = region or (host.group(1) if host else None) or session.region_name
    if not region:
        raise CliError("no AWS region to sign the request for: pass --region or set AWS_REGION")
    return credentials, region


def describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    # The innermost cause says it best ("Connection refused", "Name or service not known").
    cause: BaseException = exc
    while (inner := cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)) is not None:
        cause = inner
    return str(cause) or type(cause).__name__
