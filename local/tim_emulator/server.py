"""The emulator's HTTP layer: Tencent's REST surface under ``/v4/`` and the control API under
``/_emulator/``, on one threaded server on loopback.

A REST call goes: authenticate (sdkappid, admin identifier, UserSig) → known command → per-API
rate limit → JSON body → fault injection → the service. Every call is recorded (``GET
/_emulator/calls``). Errors are answered as Tencent does: HTTP 200 with ``ActionStatus: FAIL``
and the code in the body; only an injected network fault is an HTTP error (e.g. 502).
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from local.http import JSON_HEADERS, LocalHTTPHandler, LocalHTTPServer
from local.tim_emulator import codes
from local.tim_emulator.c2c import client_send_c2c
from local.tim_emulator.callbacks import CallbackClient
from local.tim_emulator.codes import ImError
from local.tim_emulator.config import DEFAULT_PORT, Clock, FaultRule, Identity, Settings
from local.tim_emulator.core import Caller, Reply, Seed, SendResult, Service
from local.tim_emulator.group_messages import client_send_group
from local.tim_emulator.rest_api import REST_API, Handler
from local.tim_emulator.usersig import MalformedSig, expires_at, read_usersig, signed_with

log = logging.getLogger("local.tim_emulator")


@dataclass(frozen=True)
class Fault:
    kind: str  # "error" or "hang"
    code: int | None  # ErrorCode, or an HTTP status below 1000; None for a hang
    after_commit: bool
    hang_seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "after_commit": self.after_commit}


class FaultInjector:
    """Draws faults from a seeded RNG, so a run with the same seed and order is the same run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    @staticmethod
    def rule_for(api: str, rules: list[FaultRule]) -> FaultRule | None:
        # The rule naming the API wins over "*".
        exact = [r for r in rules if r.api == api]
        return exact[0] if exact else next((r for r in rules if r.api == "*"), None)

    def draw(self, rule: FaultRule) -> Fault | None:
        with self._lock:
            draw = self._rng.random()
            if draw < rule.hang_share:
                kind, code = "hang", None
            elif draw < rule.hang_share + rule.error_share and rule.codes:
                kind, code = "error", self._rng.choice(rule.codes)
            else:
                return None
            after_commit = self._rng.random() < rule.fault_after_commit
        return Fault(kind, code, after_commit, rule.hang_seconds)


class TimEmulator:
    """Binds its port when created (0 picks a free one); serves once started."""

    def __init__(
        self,
        identity: Identity,
        settings: Settings | None = None,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        clock: Clock | None = None,
        seed: Seed | None = None,
    ) -> None:
        self.identity = identity
        self._initial = settings or Settings()
        self._settings = self._initial
        self._settings_lock = threading.Lock()
        self.clock = clock or Clock()
        self.stopping = threading.Event()
        self.faults = FaultInjector()
        self.faults.reseed(self._initial.fault_seed)
        self.callbacks = CallbackClient(identity, self.settings, self.now)
        self.service = Service(identity, self.settings, self.now, self.callbacks, self.stopping)
        if seed is not None:
            self.service.set_seed(seed)
        self._server = _Server(host, port, _Handler, name="tim-emulator", poll_interval=0.05)  # a quick stop()
        self._server.emulator = self
        self.url = self._server.url

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TimEmulator:
        self.callbacks.start()
        self._server.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends injected hangs and modify latencies at once
        self._server.stop()
        self.callbacks.stop()

    def __enter__(self) -> TimEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ settings

    def settings(self) -> Settings:
        return self._settings

    def now(self) -> float:
        """The emulator's time: its clock plus the configured offset."""
        return self.clock.now() + self._settings.clock_offset_s

    def configure(self, **changes: Any) -> Settings:
        """Change some settings (raises pydantic's ValidationError naming the bad fields)."""
        with self._settings_lock:
            updated = Settings.model_validate({**self._settings.model_dump(), **changes})
            self._settings = updated
        if "faults" in changes or "fault_seed" in changes:
            self.faults.reseed(updated.fault_seed)
        return updated

    def reset(self, config: bool = False, seed: bool = True) -> None:
        """Forget all state, counters and records; the settings too when ``config`` is true."""
        if config:
            with self._settings_lock:
                self._settings = self._initial
        self.faults.reseed(self._settings.fault_seed)
        self.callbacks.reset()
        self.service.reset(seed=seed)

    # ------------------------------------------------------------------ REST authentication

    def authenticate(self, query: dict[str, str]) -> None:
        """docs/protocol.md §4.1/§4.2: this app, a well-formed valid UserSig for the named identifier, an admin."""
        if query.get("sdkappid") != str(self.identity.sdkappid):
            raise ImError(codes.SDKAPPID_INVALID, "sdkappid is missing or is not this app's SDKAppID")
        identifier = query.get("identifier", "")
        if not identifier:
            raise ImError(codes.IDENTIFIER_INVALID, "identifier is missing")
        usersig = query.get("usersig", "")
        if not usersig:
            raise ImError(codes.SIG_EMPTY, "usersig is empty")
        try:
            info = read_usersig(usersig)
        except MalformedSig:
            raise ImError(codes.SIG_MALFORMED, "usersig is malformed") from None
        if info["TLS.sdkappid"] != self.identity.sdkappid:
            raise ImError(codes.SIG_SDKAPPID_MISMATCH, "usersig was issued for another SDKAppID")
        if info["TLS.identifier"] != identifier:
            raise ImError(codes.SIG_IDENTIFIER_MISMATCH, "usersig was issued for another identifier")
        now = int(self.now())
        if now > expires_at(info):
            raise ImError(codes.SIG_EXPIRED, "usersig has expired")
        if not signed_with(info, self.identity.secret_key):
            raise ImError(codes.SIG_WRONG_KEY, "usersig does not verify with this app's key")
        if identifier != self.identity.admin:
            raise ImError(codes.ADMIN_REQUIRED, "this API needs the app admin as identifier")


class _Server(LocalHTTPServer):
    emulator: TimEmulator


class _Handler(LocalHTTPHandler):
    server: _Server
    server_version = "tim-emulator"
    error_field = "error"

    def _dispatch(self) -> None:
        raw = self.read_body()
        if raw is None:
            return
        path, query = self.target()
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            if path.startswith("/v4/"):
                self._rest(path.removeprefix("/v4/"), params, raw)
            elif path.startswith("/_emulator/"):
                self._control(path.removeprefix("/_emulator/").strip("/"), params, raw)
            else:
                self._send_json(404, {"error": "not found: Tencent's API is under /v4/, the emulator's /_emulator/"})
        except Exception as exc:
            # An emulator bug, never an imitation of Tencent (which answers 200): say so plainly.
            log.exception("emulator error on %s %s", self.command, path)
            self.close_connection = True
            self._send_json(500, {"error": f"emulator bug: {type(exc).__name__}: {exc}"})

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    # ------------------------------------------------------------------ REST

    def _rest(self, api: str, query: dict[str, str], raw: bytes) -> None:
        emulator = self.server.emulator
        service = emulator.service
        started = time.monotonic()
        entry: dict[str, Any] = {
            "time": service.now(),
            "api": api,
            "identifier": query.get("identifier"),
            "random": query.get("random"),
            "fault": None,
            "request": None,
        }
        reply: Reply | None = None
        after = []
        http_status = None
        try:
            emulator.authenticate(query)
            handler = REST_API.get(f"v4/{api}")
            if self.command != "POST" or handler is None:
                raise ImError(codes.URL_INVALID, f"no such API: POST /v4/{api}")
            if not service.admit_call(api):
                limit = emulator.settings().rate_limit(api)
                raise ImError(codes.RATE_LIMITED, f"REST call frequency over the limit ({limit}/s for {api})")
            body = _json_object(raw)
            if body is None:
                raise ImError(codes.JSON_INVALID, "the body is not a JSON object")
            entry["request"] = body
            caller = Caller("rest", "RESTAPI", self.client_address[0], emulator.identity.admin)
            settings = emulator.settings()
            rule = emulator.faults.rule_for(api, settings.faults)
            if rule is not None and rule.latency_ms:
                entry["latency_ms"] = rule.latency_ms
                emulator.stopping.wait(rule.latency_ms / 1000)
            fault = emulator.faults.draw(rule) if rule is not None else None
            entry["fault"] = fault.describe() if fault else None
            if fault is None:
                reply = _carry_out(handler, service, body, caller)
            elif fault.kind == "hang":
                # The request still happens, before the hang or after it (the caller has long
                # given up either way): commit-then-hang is the classic lost acknowledgement.
                if fault.after_commit:
                    reply = _carry_out(handler, service, body, caller)
                    emulator.stopping.wait(fault.hang_seconds)
                else:
                    emulator.stopping.wait(fault.hang_seconds)
                    reply = _carry_out(handler, service, body, caller)
            else:
                if fault.after_commit:
                    # Carried out (stored, callbacks queued), then answered with the fault.
                    after = _carry_out(handler, service, body, caller).after
                assert fault.code is not None
                if fault.code < codes.HTTP_STATUS_CODES_BELOW:
                    http_status = fault.code
                else:
                    reply = Reply(action_status="FAIL", code=fault.code, info=f"injected fault {fault.code}")
        except ImError as exc:
            reply = Reply(action_status="FAIL", code=exc.code, info=exc.info)
        if reply is not None:
            after = after or reply.after
        entry.update(
            http_status=http_status or 200,
            ActionStatus=reply.action_status if reply else None,
            ErrorCode=reply.code if reply else None,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        service.record_call(entry)
        release = emulator.callbacks.submit(after)
        try:
            if reply is not None:
                self._send_json(200, reply.envelope())
            else:
                body = f"<html><body><h1>{http_status} injected fault</h1></body></html>".encode()
                self.respond(http_status or 502, [("content-type", "text/html")], body)
        finally:
            # Only now: the caller has its answer before any after-send, bot or modify callback.
            release()

    # ------------------------------------------------------------------ control API

    def _control(self, route: str, query: dict[str, str], raw: bytes) -> None:
        emulator = self.server.emulator
        method = self.command
        parts = route.split("/")
        body: dict[str, Any] = {}
        if method == "POST":
            parsed = _json_object(raw) if raw.strip() else {}
            if parsed is None:
                self._send_json(400, {"error": "the body must be a JSON object"})
                return
            body = parsed
        if (method, route) == ("POST", "reset"):
            emulator.reset(config=bool(body.get("config", False)), seed=bool(body.get("seed", True)))
            self._send_json(200, {"reset": True})
        elif route == "config" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    emulator.configure(**body)
                except ValidationError as exc:
                    fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in exc.errors()})
                    self._send_json(400, {"error": "invalid settings", "fields": fields, "detail": str(exc)})
                    return
            self._send_json(200, emulator.settings().public())
        elif method == "POST" and len(parts) == 3 and parts[0] == "users" and parts[2] in ("send_c2c", "send_group"):
            send = client_send_c2c if parts[2] == "send_c2c" else client_send_group
            result = send(emulator.service, parts[1], body)
            release = emulator.callbacks.submit(result.after if isinstance(result, SendResult) else [])
            try:
                self._send_json(200, _send_answer(result))
            finally:
                release()
        elif method == "GET" and route in ("messages", "dropped", "rejected", "calls"):
            self._send_json(200, {route: _filtered(emulator.service.read(route), query)})  # type: ignore[arg-type]
        elif method == "GET" and route == "callbacks":
            records = _filtered(emulator.callbacks.records(), query)
            self._send_json(200, {"callbacks": records, "pending": emulator.callbacks.pending})
        elif method == "GET" and route == "state":
            self._send_json(200, emulator.service.state())
        else:
            self._send_json(404, {"error": f"no such control route: {method} /_emulator/{route}"})

    # ------------------------------------------------------------------ writing

    def _send_json(self, status: int, payload: Any) -> None:
        self.respond(status, JSON_HEADERS, json.dumps(payload, ensure_ascii=False).encode())


def _carry_out(handler: Handler, service: Service, body: dict[str, Any], caller: Caller) -> Reply:
    try:
        return handler(service, body, caller)
    except ImError as exc:
        return Reply(action_status="FAIL", code=exc.code, info=exc.info)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _filtered(records: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """``?name=value`` keeps records whose field equals the value; ``since`` compares ``time``."""
    since = query.pop("since", None)
    if since is not None:
        records = [r for r in records if r.get("time", 0) >= float(since)]
    for name, value in query.items():
        records = [r for r in records if str(r.get(name)) == value]
    return records


def _send_answer(result: SendResult | ImError) -> dict[str, Any]:
    """What a simulated client's SDK would learn, plus what happened to the message."""
    if isinstance(result, ImError):
        return {
            "ErrorCode": result.code,
            "ErrorInfo": result.info,
            "outcome": "rejected",
            "reason": "validation",
            "send_id": None,
            "message": None,
        }
    answer: dict[str, Any] = {
        "ErrorCode": result.code,
        "ErrorInfo": result.info,
        "outcome": result.outcome,
        "reason": result.reason,
        "send_id": result.send_id,
        "MsgTime": result.msg_time,
    }
    if result.msg_key is not None:
        answer["MsgKey"] = result.msg_key
    elif result.code == codes.OK:
        answer["MsgSeq"] = result.msg_seq
        answer["MsgDropReason"] = result.drop_reason
    answer["message"] = copy.deepcopy(result.message)
    return answer
