"""The admin API (/admin/*, AWS_IAM auth): bot friends and configurations, robots, messages, broadcasts
and history (from the archive).

Request and answer models are in timkit.models.admin; the resolver validates against them and
publishes the OpenAPI document at /admin/openapi.json (Swagger UI at /admin/swagger). A POST or PUT
with an Idempotency-Key header is carried out once: a repeat within 24 hours gets the first answer.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError
from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from timkit.admin import (
    AccountNotFound,
    AdminService,
    BotConfigService,
    ConfigNotFound,
    RobotLimitReached,
    RobotNotFound,
)
from timkit.archive import Archiver
from timkit.broadcast import BroadcastAdmin, JobNotFound, ScheduleInPast
from timkit.chat import (
    ChatClient,
    ChatMessageNotFound,
    IdempotencyConflict,
    InvalidChatRequest,
    NotSupportedByTencent,
    OperationInProgress,
    ThreadNotFound,
)
from timkit.config import Settings
from timkit.history import (
    MAX_MESSAGE_ID,
    MAX_PAGE_SIZE,
    MAX_TIME,
    HistoryService,
    InvalidHistoryRequest,
    MessageNotFound,
)
from timkit.keys import KeyNotConfigured
from timkit.models.admin import (
    MAX_PAGE,
    BotFriendsRequest,
    BotFriendsResponse,
    Broadcast,
    BroadcastList,
    BroadcastRequest,
    ErrorBody,
    FieldError,
    InvalidRequest,
    MessageRequest,
    MessageResponse,
    ParticipantsRequest,
    ReadReceiptRequest,
    Robot,
    RobotCreateRequest,
    RobotList,
    ThreadCreateRequest,
    ThreadMessageRequest,
    ThreadMessageSent,
    ThreadMessageUpdate,
    ThreadTopicRequest,
    TypingRequest,
)
from timkit.models.botconfig import BotConfig
from timkit.models.chat import (
    AddChatParticipantsResult,
    ChatMessage,
    ChatMessagesPage,
    ChatParticipantsPage,
    ChatReadReceiptsPage,
    ChatThreadProperties,
    ChatThreadsPage,
    CreateChatThreadResult,
)
from timkit.models.history import MAX_CONVERSATION_ID, BackfillProgress, BackfillRequest, HistoryEntry, HistoryPage
from timkit.models.rest import RobotId
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.archive import ArchiveStore
from timkit.stores.bots import BotStore, StoredConfigInvalid
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.stores.config import ConfigUnavailable
from timkit.stores.jobs import JobStore
from timkit.stores.paging import InvalidToken
from timkit.stores.schedules import Schedules, WorkQueue
from timkit.tim.errors import NOT_FOUND_CODES, TimApiError, TimTransportError

logger = Logger()
settings = Settings.from_env()
keys = AppKeyStore(settings.TIM_SECRET_ID, settings.CONFIG_CACHE_SECONDS, logger)
rest = paced_client(settings, keys.current)


broadcasts = BroadcastAdmin(
    JobStore(settings.JOBS_TABLE),
    WorkQueue(settings.BROADCAST_QUEUE_URL),
    Schedules(settings.SCHEDULE_GROUP, settings.SCHEDULER_TARGET_ARN, settings.SCHEDULER_ROLE_ARN),
)
bot_configs = BotConfigService(rest, BotStore(settings.BOT_STATE_TABLE))
_archive = ArchiveStore(settings.ARCHIVE_TABLE)
history = HistoryService(_archive)
# Creates and sends with an Idempotency-Key keep a record of their own beside Powertools' (which
# keeps only successes): a repeat after a failure recovers what Tencent did (see timkit.chat).
chat = ChatClient(rest, history=history,
                  tokens=ChatTokenStore(settings.IDEMPOTENCY_TABLE) if settings.IDEMPOTENCY_TABLE else None)
archiver = Archiver(_archive)
# A backfill call's share of the work: the function has 29 s, API Gateway waits 30 s.
BACKFILL_SECONDS = 20
app = APIGatewayHttpResolver(enable_validation=True)
app.enable_swagger(
    path="/admin/swagger",
    title="timkit admin API",
    version="1.0.0",
    description="Operator API for Tencent Cloud Chat: AI bot friends and configurations, robots, messages, "
    "group broadcasts. Calls are signed with AWS SigV4 (IAM); a POST or PUT may carry an Idempotency-Key header.",
)

# ------------------------------------------------------------------ Idempotency-Key

_persistence = DynamoDBPersistenceLayer(table_name=settings.IDEMPOTENCY_TABLE) if settings.IDEMPOTENCY_TABLE else None
_idempotency = IdempotencyConfig(
    event_key_jmespath="[path, key]",
    # The same key with another body is refused rather than answered with the first body's result.
    payload_validation_jmespath="body",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)
# Documents the header on every POST and PUT; the middleware above does the work.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        max_length=255,
        description="Carries out this request once; a repeat within 24 hours gets the first answer.",
    ),
]


# The methods that take a JSON body, and an Idempotency-Key.
_BODY_METHODS = ("POST", "PUT")


class _NotKept(Exception):
    """An answer that is not a success is not kept: the same key may be tried again."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _carry_out(request: dict[str, str], route: Any) -> dict[str, Any]:
    response: Response = route()
    if response.status_code >= 300:
        raise _NotKept(response)
    return {"status": response.status_code, "body": response.body, "type": response.headers.get("Content-Type")}


_once = (
    idempotent_function(data_keyword_argument="request", persistence_store=_persistence, config=_idempotency)(
        _carry_out
    )
    if _persistence is not None
    else _carry_out
)


def _idempotent_posts(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    event = app.current_event
    key = (event.headers or {}).get("idempotency-key")
    if event.http_method not in _BODY_METHODS or not key:
        return next_middleware(app)
    if len(key) > 255:
        return _error(400, "Idempotency-Key is longer than 255 characters", "Idempotency-Key")
    request = {"path": event.path, "key": key, "body": event.decoded_body or ""}
    try:
        done = _once(request=request, route=lambda: next_middleware(app))
    except _NotKept as exc:
        return exc.response
    return Response(status_code=done["status"], content_type=done["type"] or content_types.APPLICATION_JSON,
                    body=done["body"])


app.use(middlewares=[_idempotent_posts])

# ------------------------------------------------------------------ routes
# Routes carry no return annotation: the resolver would read it as the response model; the
# documented answers are in `responses`.

def _doc(description: str, model: Any = ErrorBody) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


ERRORS = {
    400: _doc("Bad request"),
    # Replaces the resolver's own 422 entry, which describes a body this API does not send.
    422: _doc("Invalid request: the field and why", InvalidRequest),
    404: _doc("Not found"),
    502: _doc("Tencent IM refused the call"),
    503: _doc("Tencent IM or AWS could not be reached, or the app's key is not configured"),
}
POST_ERRORS = {**ERRORS, 415: _doc("The body is not application/json")}
JobId = Annotated[str, Path(max_length=64, description="A broadcast's jobId")]
_ROBOT_ID = TypeAdapter(RobotId)
# The pattern is the document's only: the resolver checks the parameter as it arrives, encoded.
RobotPath = Annotated[
    str,
    Path(
        description="An @RBT# robot ID, percent-encoded",
        json_schema_extra=_ROBOT_ID.json_schema(),
        examples=["@RBT#assistant"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Token = Annotated[str | None, Query(max_length=2048)]
# As RobotPath: the constraints are the document's, checked on the decoded value by HistoryService.
ConversationPath = Annotated[
    str,
    Path(
        description="A conversation id, percent-encoded: c2c:<user>:<user> (either order), group:<GroupId> or "
        "topic:<GroupId>:<TopicId>, with ':' and '%' inside ids written %3A and %25",
        json_schema_extra={"pattern": r"^(c2c:[^:]+:[^:]+|group:[^:]+|topic:[^:]+:[^:]+)$",
                           "maxLength": MAX_CONVERSATION_ID},
        examples=["c2c:alice:bob", "group:@TGS#2J4SZEAEL"],
    ),
]
MessagePath = Annotated[
    str,
    Path(
        description="A message id, percent-encoded: c2c:<MsgKey>, group:<GroupId>:<MsgSeq>, "
        "topic:<GroupId>:<TopicId>:<MsgSeq>, or a system event's system:<id>",
        json_schema_extra={"pattern": r"^(c2c|group|topic|system):.+$", "maxLength": MAX_MESSAGE_ID},
        examples=["group:@TGS#2J4SZEAEL:123"],
    ),
]
Seconds = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Unix seconds, inclusive")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


class InvalidPath(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _robot(field: str, raw: str) -> str:
    # Path parameters reach the routes percent-encoded (see lambda_handler).
    try:
        return _ROBOT_ID.validate_python(unquote(raw))
    except ValidationError as exc:
        raise InvalidPath(f"path.{field}", exc.errors()[0]["msg"]) from None


def _json(status: int, model: Any):
    try:
        body = model.model_dump_json(by_alias=True, exclude_none=True)
    except PydanticSerializationError:
        # pydantic-core's JSON encoder stops near 250 nested levels; a message in history may hold
        # mergers 100 deep (500 levels). Its plain-Python dump goes deeper.
        plain = model.model_dump(by_alias=True, exclude_none=True)
        body = json.dumps(plain, ensure_ascii=False, default=str)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _error(status: int, message: str, field: str | None = None):
    return _json(status, ErrorBody(message=message, field=field))


@app.post("/admin/bots/<botId>/friends", responses={200: _doc("Per-user results", BotFriendsResponse), **POST_ERRORS})
def add_bot_friends(
    botId: RobotPath,  # noqa: N803 - the path parameter
    body: BotFriendsRequest,
    idempotency_key: IdempotencyKey = None,
):
    """Makes each user and the @RBT# bot friends both ways (force-add); already friends is a success."""
    return _json(200, AdminService(rest()).bot_friends(_robot("botId", botId), body.user_ids))


@app.put(
    "/admin/bots/<botId>/config",
    responses={200: _doc("The configuration as stored (defaults filled in)", BotConfig), **POST_ERRORS},
)
def put_bot_config(
    botId: RobotPath,  # noqa: N803
    body: BotConfig,
    idempotency_key: IdempotencyKey = None,
):
    """Sets the model that answers the bot's users and how (replacing any earlier configuration);
    the bot must be one of the app's robots. The bot worker uses it within seconds."""
    return _json(200, bot_configs.put(_robot("botId", botId), body))


@app.get(
    "/admin/bots/<botId>/config",
    responses={
        200: _doc("The configuration", BotConfig),
        409: _doc("The stored configuration breaks a rule of this version: PUT it again"),
        **ERRORS,
    },
)
def get_bot_config(botId: RobotPath):  # noqa: N803
    return _json(200, bot_configs.get(_robot("botId", botId)))


@app.delete("/admin/bots/<botId>/config", responses={204: {"description": "Deleted", "content": {}}, **ERRORS})
def delete_bot_config(botId: RobotPath):  # noqa: N803
    """Deletes the bot's configuration."""
    bot_configs.delete(_robot("botId", botId))
    return Response(status_code=204)


@app.post(
    "/admin/robots",
    responses={201: _doc("Created (or already there)", Robot), 409: _doc("The app has 20 robots"), **POST_ERRORS},
)
def create_robot(body: RobotCreateRequest, idempotency_key: IdempotencyKey = None):
    AdminService(rest()).create_robot(body)
    return _json(201, Robot(robot_id=body.robot_id))


@app.get("/admin/robots", responses={200: _doc("The app's robots", RobotList), **ERRORS})
def list_robots():
    return _json(200, RobotList(robots=AdminService(rest()).robots()))


# An empty content: otherwise the resolver documents a JSON body for the 204.
@app.delete("/admin/robots/<robotId>", responses={204: {"description": "Deleted", "content": {}}, **ERRORS})
def delete_robot(robotId: RobotPath):  # noqa: N803
    AdminService(rest()).delete_robot(_robot("robotId", robotId))
    return Response(status_code=204)


@app.post("/admin/messages", responses={200: _doc("Per-recipient results", MessageResponse), **POST_ERRORS})
def send_message(body: MessageRequest, idempotency_key: IdempotencyKey = None):
    """One user, many users (≤ 500 per Tencent call) or one group."""
    return _json(200, AdminService(rest()).send(body))


@app.post("/admin/broadcasts", responses={202: _doc("Accepted: the job", Broadcast), **POST_ERRORS})
def create_broadcast(body: BroadcastRequest, idempotency_key: IdempotencyKey = None):
    """Sends one message to many groups under Tencent's limits, now, at a time or on a cron schedule."""
    return _json(202, broadcasts.create(body))


@app.get("/admin/broadcasts", responses={200: _doc("Jobs, newest first", BroadcastList), **ERRORS})
def list_broadcasts(limit: Limit = 50, nextToken: Token = None):  # noqa: N803
    return _json(200, broadcasts.list(limit, nextToken))


@app.get("/admin/broadcasts/<jobId>", responses={200: _doc("Progress and per-group results", Broadcast), **ERRORS})
def get_broadcast(jobId: JobId, limit: Limit = 100, nextToken: Token = None):  # noqa: N803
    return _json(200, broadcasts.view(unquote(jobId), limit, nextToken))


@app.delete("/admin/broadcasts/<jobId>", responses={200: _doc("Cancelled", Broadcast), **ERRORS})
def cancel_broadcast(jobId: JobId):  # noqa: N803
    """Cancels the sends still pending and removes the schedule; sends under way finish."""
    return _json(200, broadcasts.cancel(unquote(jobId)))


def _path_value(name: str, raw: str) -> str:
    # API Gateway gives path parameters decoded: a conversation id's own escapes (%3A) are then
    # intact, where decoding the (re-encoded) path would take them for URL escapes.
    given = (app.current_event.path_parameters or {}).get(name)
    return given if given is not None else unquote(raw)


# ------------------------------------------------------------------ threads (timkit.chat)
# A thread id is a conversation id (group:<GroupId>, c2c:<a>:<b>); a message id the archive's
# identity of the message. Both are read as API Gateway decoded them (_path_value).

UserPath = Annotated[str, Path(max_length=200, description="A UserID, percent-encoded")]
StartTime = Annotated[int | None, Query(ge=0, le=MAX_TIME, description="Only what happened from then on (Unix s)")]
NO_CONTENT = {"description": "Done", "content": {}}
THREAD_ERRORS = {
    **ERRORS,
    409: _doc("An attempt with this Idempotency-Key is in progress"),
    422: _doc("Invalid request, or an operation Tencent IM does not offer for this kind of thread", InvalidRequest),
}
THREAD_POST_ERRORS = {**THREAD_ERRORS, 415: _doc("The body is not application/json")}


def _thread(thread_id: str):
    return chat.get_chat_thread_client(_path_value("threadId", thread_id))


def _first_page(paged: Any, token: str | None):
    return next(paged.by_page(token))


@app.post("/admin/threads",
          responses={201: _doc("The thread and the participants not added", CreateChatThreadResult),
                     **THREAD_POST_ERRORS})
def create_thread(body: ThreadCreateRequest, idempotency_key: IdempotencyKey = None):
    """Creates a group thread (a Work group) with its participants; those Tencent would not add are
    listed in errors with its code. With an Idempotency-Key, a repeat creates nothing more."""
    return _json(201, chat.create_chat_thread(body.topic, body.participants, idempotency_token=idempotency_key))


@app.get("/admin/threads", responses={200: _doc("Group threads", ChatThreadsPage), **THREAD_ERRORS})
def list_threads(pageSize: Annotated[int, Query(ge=1, le=50)] = 50, startTime: StartTime = None,  # noqa: N803
                 nextToken: Token = None):
    return _json(200, _first_page(chat.list_chat_threads(pageSize, startTime), nextToken))


@app.get("/admin/threads/<threadId>", responses={200: _doc("The thread", ChatThreadProperties), **THREAD_ERRORS})
def get_thread(threadId: ConversationPath):  # noqa: N803
    return _json(200, _thread(threadId).get_properties())


@app.put("/admin/threads/<threadId>/topic", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def update_thread_topic(threadId: ConversationPath, body: ThreadTopicRequest,  # noqa: N803
                        idempotency_key: IdempotencyKey = None):
    _thread(threadId).update_topic(body.topic)
    return Response(status_code=204)


@app.delete("/admin/threads/<threadId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def delete_thread(threadId: ConversationPath):  # noqa: N803
    """Dismisses the group (irrevocable)."""
    chat.delete_chat_thread(_path_value("threadId", threadId))
    return Response(status_code=204)


@app.post("/admin/threads/<threadId>/messages",
          responses={201: _doc("Sent: the message id", ThreadMessageSent), **THREAD_POST_ERRORS})
def send_thread_message(threadId: ConversationPath, body: ThreadMessageRequest,  # noqa: N803
                        idempotency_key: IdempotencyKey = None):
    """Sends a message; with an Idempotency-Key a repeat returns the first message's id and sends nothing."""
    message_id = _thread(threadId).send_message(
        body.content, body.sender, body.sender_display_name, body.type, body.metadata,
        idempotency_token=idempotency_key,
    )
    return _json(201, ThreadMessageSent(id=message_id))


@app.get("/admin/threads/<threadId>/messages",
         responses={200: _doc("Messages and system events, newest first; source says where they were read",
                              ChatMessagesPage), **THREAD_ERRORS})
def list_thread_messages(threadId: ConversationPath, pageSize: PageSize = 50, startTime: StartTime = None,  # noqa: N803
                         nextToken: Token = None):
    return _json(200, _first_page(_thread(threadId).list_messages(pageSize, startTime), nextToken))


@app.get("/admin/threads/<threadId>/messages/<messageId>",
         responses={200: _doc("The message", ChatMessage), **THREAD_ERRORS})
def get_thread_message(threadId: ConversationPath, messageId: MessagePath):  # noqa: N803
    return _json(200, _thread(threadId).get_message(_path_value("messageId", messageId)))


@app.put("/admin/threads/<threadId>/messages/<messageId>", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def update_thread_message(threadId: ConversationPath, messageId: MessagePath, body: ThreadMessageUpdate,  # noqa: N803
                          idempotency_key: IdempotencyKey = None):
    _thread(threadId).update_message(_path_value("messageId", messageId), body.content, body.metadata)
    return Response(status_code=204)


@app.delete("/admin/threads/<threadId>/messages/<messageId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def delete_thread_message(threadId: ConversationPath, messageId: MessagePath):  # noqa: N803
    """Recalls the message for everyone."""
    _thread(threadId).delete_message(_path_value("messageId", messageId))
    return Response(status_code=204)


@app.post("/admin/threads/<threadId>/readReceipts", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def send_read_receipt(threadId: ConversationPath, body: ReadReceiptRequest,  # noqa: N803
                      idempotency_key: IdempotencyKey = None):
    _thread(threadId).send_read_receipt(body.message_id, body.reader)
    return Response(status_code=204)


@app.get("/admin/threads/<threadId>/readReceipts",
         responses={200: _doc("Each reader's newest read message", ChatReadReceiptsPage), **THREAD_ERRORS})
def list_read_receipts(threadId: ConversationPath, pageSize: Annotated[int, Query(ge=1, le=20)] = 20):  # noqa: N803
    return _json(200, _first_page(_thread(threadId).list_read_receipts(pageSize), None))


@app.post("/admin/threads/<threadId>/participants",
          responses={200: _doc("Who was added, and who not (with Tencent's code)", AddChatParticipantsResult),
                     **THREAD_POST_ERRORS})
def add_thread_participants(threadId: ConversationPath, body: ParticipantsRequest,  # noqa: N803
                            idempotency_key: IdempotencyKey = None):
    return _json(200, _thread(threadId).add_participants(body.participants))


@app.get("/admin/threads/<threadId>/participants",
         responses={200: _doc("The participants", ChatParticipantsPage), **THREAD_ERRORS})
def list_thread_participants(threadId: ConversationPath, pageSize: PageSize = 100,  # noqa: N803
                             nextToken: Token = None):
    return _json(200, _first_page(_thread(threadId).list_participants(pageSize), nextToken))


@app.delete("/admin/threads/<threadId>/participants/<userId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def remove_thread_participant(threadId: ConversationPath, userId: UserPath):  # noqa: N803
    _thread(threadId).remove_participant(_path_value("userId", userId))
    return Response(status_code=204)


@app.post("/admin/threads/<threadId>/typing", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def send_typing(threadId: ConversationPath, body: TypingRequest, idempotency_key: IdempotencyKey = None):  # noqa: N803
    """One-to-one threads only: Tencent IM shows no typing notice in groups (a 422 says so)."""
    _thread(threadId).send_typing_notification(body.sender)
    return Response(status_code=204)
@app.get(
    "/admin/conversations/<conversationId>/messages",
    responses={200: _doc("One page of the conversation, newest first", HistoryPage), **ERRORS},
)
def conversation_messages(
    conversationId: ConversationPath,  # noqa: N803 - the API's names
    startTime: Seconds = None,  # noqa: N803
    endTime: Seconds = None,  # noqa: N803
    pageSize: PageSize = 50,  # noqa: N803
    nextToken: Token = None,  # noqa: N803
):
    """A conversation's messages and system events from the archive, newest first, with edits, recalls
    and (one-to-one) read marks. startTime and endTime bound the send times (inclusive); a nextToken
    goes with the conversation it came from."""
    page = history.page(_path_value("conversationId", conversationId), start_time=startTime, end_time=endTime,
                        page_size=pageSize, next_token=nextToken)
    return _json(200, page)


@app.get(
    "/admin/conversations/<conversationId>/messages/<messageId>",
    responses={200: _doc("The message (or system event)", HistoryEntry), **ERRORS},
)
def conversation_message(conversationId: ConversationPath, messageId: MessagePath):  # noqa: N803
    return _json(200, history.get(_path_value("conversationId", conversationId), _path_value("messageId", messageId)))


@app.post(
    "/admin/archive/backfill",
    responses={200: _doc("This call's progress; call again with nextToken until done", BackfillProgress),
               **POST_ERRORS},
)
def archive_backfill(body: BackfillRequest, idempotency_key: IdempotencyKey = None):
    """Puts messages archived before the history index into it, for about 20 s a call."""
    return _json(200, archiver.backfill(body.next_token, BACKFILL_SECONDS))


@app.get("/admin/openapi.json", include_in_schema=False)
def openapi():
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema(
        title="timkit admin API", version="1.0.0"))


# ------------------------------------------------------------------ errors, in one place


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    errors = [
        FieldError(field=".".join(str(p) for p in err["loc"]), message=err.get("msg", err.get("type", "invalid")))
        for err in exc.errors()[:20]
    ]
    first = errors[0] if errors else FieldError(field="body", message="invalid request")
    return _json(422, InvalidRequest(message=f"{first.field}: {first.message}", field=first.field, errors=errors))


@app.exception_handler(UnicodeDecodeError)
def _not_utf8(exc: UnicodeDecodeError) -> Response:
    # The resolver decodes a body that came base64-encoded (a binary one) as UTF-8 when it reads it.
    return _error(422, "body: not UTF-8, so not JSON", "body")


@app.exception_handler(InvalidPath)
def _bad_path(exc: InvalidPath) -> Response:
    return _error(422, f"{exc.field}: {exc}", exc.field)


@app.exception_handler(InvalidHistoryRequest)
def _bad_history_request(exc: InvalidHistoryRequest) -> Response:
    field = ("path." if exc.field in ("conversationId", "messageId") else "query.") + exc.field
    return _error(422, f"{field}: {exc}", field)


@app.exception_handler([MessageNotFound, ChatMessageNotFound])
def _no_message(exc: MessageNotFound | ChatMessageNotFound) -> Response:
    return _error(404, str(exc), "messageId")


@app.exception_handler(JobNotFound)
def _no_job(exc: JobNotFound) -> Response:
    return _error(404, str(exc), "jobId")


@app.exception_handler(AccountNotFound)
def _no_account(exc: AccountNotFound) -> Response:
    return _error(404, str(exc))


@app.exception_handler(RobotNotFound)
def _no_robot(exc: RobotNotFound) -> Response:
    return _error(404, str(exc), "botId")


@app.exception_handler(ConfigNotFound)
def _no_bot_config(exc: ConfigNotFound) -> Response:
    return _error(404, str(exc), "botId")


@app.exception_handler(StoredConfigInvalid)
def _stale_bot_config(exc: StoredConfigInvalid) -> Response:
    return _error(409, str(exc), "botId")


@app.exception_handler(RobotLimitReached)
def _robot_limit(exc: RobotLimitReached) -> Response:
    return _error(409, str(exc), "robotId")


@app.exception_handler(ScheduleInPast)
def _past(exc: ScheduleInPast) -> Response:
    return _error(422, str(exc), exc.field)


@app.exception_handler(InvalidToken)
def _token(exc: InvalidToken) -> Response:
    return _error(400, str(exc), "nextToken")


@app.exception_handler(NotSupportedByTencent)
def _not_in_tencent(exc: NotSupportedByTencent) -> Response:
    return _error(422, f"not offered by Tencent IM: {exc}", exc.operation)


@app.exception_handler(ThreadNotFound)
def _no_thread(exc: ThreadNotFound) -> Response:
    return _error(404, str(exc), "threadId")


@app.exception_handler(InvalidChatRequest)
def _bad_thread_request(exc: InvalidChatRequest) -> Response:
    return _error(400 if exc.field == "nextToken" else 422, str(exc), exc.field)


@app.exception_handler(IdempotencyConflict)
def _token_reused(exc: IdempotencyConflict) -> Response:
    return _error(422, "this Idempotency-Key was used with another request", "Idempotency-Key")


@app.exception_handler(OperationInProgress)
def _token_busy(exc: OperationInProgress) -> Response:
    return _error(409, str(exc), "Idempotency-Key")


@app.exception_handler(IdempotencyValidationError)
def _reused_key(exc: IdempotencyValidationError) -> Response:
    return _error(422, "this Idempotency-Key was used with another request body", "Idempotency-Key")


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response:
    return _error(409, "a request with this Idempotency-Key is in progress", "Idempotency-Key")


@app.exception_handler(TimApiError)
def _tencent_refused(exc: TimApiError) -> Response:
    # A user, group or message that is not there is the request's mistake; anything else Tencent's.
    status = 404 if exc.error_code in NOT_FOUND_CODES else 502
    return _json(status, ErrorBody(message=f"Tencent IM answered {exc.error_code}: {exc.error_info}",
                                   field=exc.command))


@app.exception_handler(TimTransportError)
def _tencent_unreachable(exc: TimTransportError) -> Response:
    return _error(503, f"Tencent IM did not answer ({exc.error_info}); try again", exc.command)


@app.exception_handler(KeyNotConfigured)
def _no_key(exc: KeyNotConfigured) -> Response:
    # AppKeyStore has logged it and counted it in the KeyNotConfigured metric.
    return _error(503, str(exc))


@app.exception_handler(ConfigUnavailable)
def _no_config(exc: ConfigUnavailable) -> Response:
    logger.error("configuration unavailable", error=str(exc))
    return _error(503, "the app's Tencent IM key could not be loaded; try again")


@app.exception_handler(ClientError)
def _aws_unavailable(exc: ClientError) -> Response:
    logger.exception("AWS call failed")
    return _error(503, f"an AWS call failed ({exc.response['Error']['Code']}); try again")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: object) -> dict:
    _idempotency.register_lambda_context(context)  # type: ignore[arg-type]
    # HTTP APIs hand rawPath over decoded, and the resolver matches a path parameter only if it
    # is made of URI-safe characters and letters: a robot ID's #, a ?, a control character or an
    # emoji would find no route. The routes get their parameters percent-encoded (a % stays: an
    # encoded path passes unchanged), and decode them themselves.
    raw_path = event.get("rawPath", "")
    if (encoded := quote(raw_path, safe="/%@:!$&'()*+,;=")) != raw_path:
        event = {**event, "rawPath": encoded}
    # Bodies are JSON (no Content-Type: taken as JSON). The resolver would read a form as fields
    # and fail on a multipart body with an error of its own (a 500): refused here, before it reads.
    media_type = (event.get("headers") or {}).get("content-type", "").split(";")[0].strip()
    if event.get("requestContext", {}).get("http", {}).get("method") in _BODY_METHODS and media_type not in (
        "",
        content_types.APPLICATION_JSON,
    ):
        refused = _error(415, f"the body is {media_type}; this API takes application/json", "Content-Type")
        return {"statusCode": 415, "headers": {"Content-Type": content_types.APPLICATION_JSON}, "body": refused.body}
    return app.resolve(event, context)

