"""The admin API (/admin/*, AWS_IAM auth): bot friends and configurations, robots, messages, broadcasts,
threads and history (from the archive).

Routing and error mapping only. Request and answer models are in timkit.models.admin; the resolver
validates against them and publishes the OpenAPI document at /admin/openapi.json (Swagger UI at
/admin/swagger). A POST or PUT with an Idempotency-Key header is carried out once
(timkit.api.idempotency); what an HttpApi hands over is put right first (timkit.api.http.prepare).
Every error is a timkit.models.errors.ErrorBody: this API's domain errors are in DOMAIN_ERRORS below, those
every API shares in timkit.api.errors.COMMON.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from timkit.admin import (
    AccountNotFound,
    AdminService,
    BotConfigService,
    ConfigNotFound,
    RobotLimitReached,
    RobotNotFound,
)
from timkit.api.errors import ErrorTable, Problem, status, use_errors
from timkit.api.http import InvalidPath, is_answer, json_response, path_value, prepare, validated_path
from timkit.api.idempotency import IdempotencyKey, IdempotentWrites
from timkit.api.openapi import (
    ERRORS,
    JOB_ID,
    NO_CONTENT,
    POST_ERRORS,
    ROBOT_ID,
    C2CThreadPath,
    ConversationPath,
    GroupThreadPath,
    JobId,
    Limit,
    MessagePath,
    PageSize,
    RobotPath,
    Seconds,
    StartTime,
    ThreadPath,
    Token,
    UserPath,
    doc,
    publish,
)
from timkit.archive import Archiver
from timkit.broadcast import BroadcastAdmin, JobNotFound, ScheduleInPast
from timkit.chat import (
    ChatClient,
    ChatMessageNotFound,
    IdempotencyConflict,
    InvalidChatRequest,
    NotAParticipant,
    NotSupportedByTencent,
    OperationInProgress,
    ThreadNotFound,
)
from timkit.config import AdminApiSettings
from timkit.history import HistoryService, InvalidHistoryRequest, MessageNotFound
from timkit.models.admin import (
    BotFriendsRequest,
    BotFriendsResponse,
    Broadcast,
    BroadcastList,
    BroadcastRequest,
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
from timkit.models.history import BackfillProgress, BackfillRequest, HistoryEntry, HistoryPage
from timkit.ratelimit import paced_client
from timkit.stores.appkey import AppKeyStore
from timkit.stores.archive import ArchiveStore
from timkit.stores.bots import BotStore, StoredConfigInvalid
from timkit.stores.chat_tokens import ChatTokenStore
from timkit.stores.jobs import JobStore
from timkit.stores.paging import InvalidToken
from timkit.stores.schedules import Schedules, WorkQueue

logger = Logger()
# Its cold starts (KeyNotConfigured goes out on its own: timkit.stores.appkey).
metrics = Metrics()
settings = AdminApiSettings.from_env()
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
chat = ChatClient(rest, history=history, tokens=ChatTokenStore(settings.IDEMPOTENCY_TABLE))
archiver = Archiver(_archive)
# A backfill call's share of the work: the function has 29 s, API Gateway waits 30 s.
BACKFILL_SECONDS = 20
app = APIGatewayHttpResolver(enable_validation=True)
publish(
    app,
    "/admin",
    title="timkit admin API",
    version="1.0.0",
    description="Operator API for Tencent Cloud Chat: AI bot friends and configurations, robots, messages, "
    "group broadcasts. Calls are signed with AWS SigV4 (IAM); a POST or PUT may carry an Idempotency-Key header.",
)
writes = IdempotentWrites(settings.IDEMPOTENCY_TABLE)
app.use(middlewares=[writes.middleware])


def _robot(name: str, raw: str) -> str:
    return validated_path(app, ROBOT_ID, name, raw)


@app.post(
    "/admin/bots/<botId>/friends",
    responses={
        200: doc("Per-user results", BotFriendsResponse),
        202: doc("Scheduled: the job", Broadcast),
        **POST_ERRORS,
    },
)
def add_bot_friends(
    botId: RobotPath,  # noqa: N803 - the path parameter
    body: BotFriendsRequest,
    idempotency_key: IdempotencyKey = None,
):
    """Makes each user and the @RBT# bot friends both ways (force-add); already friends is a success.
    With a schedule, a job (202) that does so at its time(s): see /admin/jobs."""
    bot = _robot("botId", botId)
    if body.schedule is not None:
        return json_response(202, broadcasts.schedule_friends(bot, body))
    return json_response(200, AdminService(rest()).bot_friends(bot, body.user_ids))


@app.put(
    "/admin/bots/<botId>/config",
    responses={200: doc("The configuration as stored (defaults filled in)", BotConfig), **POST_ERRORS},
)
def put_bot_config(
    botId: RobotPath,  # noqa: N803
    body: BotConfig,
    idempotency_key: IdempotencyKey = None,
):
    """Sets the model that answers the bot's users and how (replacing any earlier configuration);
    the bot must be one of the app's robots. The bot worker uses it within seconds."""
    return json_response(200, bot_configs.put(_robot("botId", botId), body))


@app.get(
    "/admin/bots/<botId>/config",
    responses={
        200: doc("The configuration", BotConfig),
        409: doc("The stored configuration breaks a rule of this version: PUT it again"),
        **ERRORS,
    },
)
def get_bot_config(botId: RobotPath):  # noqa: N803
    return json_response(200, bot_configs.get(_robot("botId", botId)))


@app.delete("/admin/bots/<botId>/config", responses={204: {"description": "Deleted", "content": {}}, **ERRORS})
def delete_bot_config(botId: RobotPath):  # noqa: N803
    """Deletes the bot's configuration."""
    bot_configs.delete(_robot("botId", botId))
    return Response(status_code=204)


@app.post(
    "/admin/robots",
    responses={201: doc("Created (or already there)", Robot), 409: doc("The app has 20 robots"), **POST_ERRORS},
)
def create_robot(body: RobotCreateRequest, idempotency_key: IdempotencyKey = None):
    AdminService(rest()).create_robot(body)
    return json_response(201, Robot(robot_id=body.robot_id))


@app.get("/admin/robots", responses={200: doc("The app's robots", RobotList), **ERRORS})
def list_robots():
    return json_response(200, RobotList(robots=AdminService(rest()).robots()))


# An empty content: otherwise the resolver documents a JSON body for the 204.
@app.delete("/admin/robots/<robotId>", responses={204: {"description": "Deleted", "content": {}}, **ERRORS})
def delete_robot(robotId: RobotPath):  # noqa: N803
    AdminService(rest()).delete_robot(_robot("robotId", robotId))
    return Response(status_code=204)


@app.post(
    "/admin/messages",
    responses={
        200: doc("Per-recipient results", MessageResponse),
        202: doc("Scheduled: the job", Broadcast),
        **POST_ERRORS,
    },
)
def send_message(body: MessageRequest, idempotency_key: IdempotencyKey = None):
    """One user, many users (≤ 500 per Tencent call) or one group; with a schedule, a job (202) that
    sends it at its time(s): see /admin/jobs."""
    if body.schedule is not None:
        return json_response(202, broadcasts.schedule_message(body))
    return json_response(200, AdminService(rest()).send(body))


@app.post("/admin/broadcasts", responses={202: doc("Accepted: the job", Broadcast), **POST_ERRORS})
def create_broadcast(body: BroadcastRequest, idempotency_key: IdempotencyKey = None):
    """Sends one message to many groups under Tencent's limits, now, at a time or on a cron schedule."""
    return json_response(202, broadcasts.create(body))


@app.get("/admin/broadcasts", responses={200: doc("Jobs, newest first", BroadcastList), **ERRORS})
def list_broadcasts(limit: Limit = 50, nextToken: Token = None):  # noqa: N803
    return json_response(200, broadcasts.list(limit, nextToken))


@app.get("/admin/broadcasts/<jobId>", responses={200: doc("Progress and per-group results", Broadcast), **ERRORS})
def get_broadcast(jobId: JobId, limit: Limit = 100, nextToken: Token = None):  # noqa: N803
    return json_response(200, broadcasts.view(validated_path(app, JOB_ID, "jobId", jobId), limit, nextToken))


# Cancelling keeps the job (its state, runs and results stay readable): an action on it, not a DELETE.
@app.post("/admin/broadcasts/<jobId>/cancel", responses={200: doc("Cancelled", Broadcast), **ERRORS})
def cancel_broadcast(jobId: JobId):  # noqa: N803
    """Cancels the sends still pending and removes the schedule; sends under way finish."""
    return json_response(200, broadcasts.cancel(validated_path(app, JOB_ID, "jobId", jobId)))


# Every scheduled job (broadcasts, messages, bot friends) by its id; the broadcast routes above show the same.


@app.get("/admin/jobs", responses={200: doc("Jobs of every kind, newest first", BroadcastList), **ERRORS})
def list_jobs(limit: Limit = 50, nextToken: Token = None):  # noqa: N803
    return json_response(200, broadcasts.list(limit, nextToken))


@app.get("/admin/jobs/<jobId>", responses={200: doc("The job: state, runs, results", Broadcast), **ERRORS})
def get_job(jobId: JobId, limit: Limit = 100, nextToken: Token = None):  # noqa: N803
    return json_response(200, broadcasts.view(path_value(app, "jobId", jobId), limit, nextToken))


@app.post("/admin/jobs/<jobId>/cancel", responses={200: doc("Cancelled", Broadcast), **ERRORS})
def cancel_job(jobId: JobId):  # noqa: N803
    """Cancels what has not run yet and removes the schedule; sends under way finish."""
    return json_response(200, broadcasts.cancel(path_value(app, "jobId", jobId)))


# ------------------------------------------------------------------ threads (timkit.chat)
# A thread id is a conversation id (group:<GroupId>, c2c:<a>:<b>); a message id the archive's
# identity of the message. Both are read as API Gateway decoded them (path_value).

THREAD_ERRORS = {
    **ERRORS,
    403: doc("The sender (or reader) named is not one of this one-to-one thread's two users"),
    409: doc("An attempt with this Idempotency-Key is in progress"),
    422: doc("Invalid request, or an operation Tencent IM does not offer for this kind of thread"),
}
THREAD_POST_ERRORS = {**THREAD_ERRORS, 415: POST_ERRORS[415]}


def _thread(thread_id: str):
    return chat.get_chat_thread_client(path_value(app, "threadId", thread_id))


def _first_page(paged: Any, token: str | None):
    return next(paged.by_page(token))


@app.post(
    "/admin/threads",
    responses={201: doc("The thread and the participants not added", CreateChatThreadResult), **THREAD_POST_ERRORS},
)
def create_thread(body: ThreadCreateRequest, idempotency_key: IdempotencyKey = None):
    """Creates a group thread (a Work group) with its participants; those Tencent would not add are
    listed in errors with its code. With an Idempotency-Key, a repeat creates nothing more."""
    # An empty header is no key, for the middleware and here alike.
    token = idempotency_key or None
    return json_response(201, chat.create_chat_thread(body.topic, body.participants, idempotency_token=token))


@app.get("/admin/threads", responses={200: doc("Group threads", ChatThreadsPage), **THREAD_ERRORS})
def list_threads(
    pageSize: Annotated[int, Query(ge=1, le=50)] = 50,
    startTime: StartTime = None,  # noqa: N803
    nextToken: Token = None,
):
    return json_response(200, _first_page(chat.list_chat_threads(pageSize, startTime), nextToken))


@app.get("/admin/threads/<threadId>", responses={200: doc("The thread", ChatThreadProperties), **THREAD_ERRORS})
def get_thread(threadId: ThreadPath):  # noqa: N803
    return json_response(200, _thread(threadId).get_properties())


@app.put("/admin/threads/<threadId>/topic", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def update_thread_topic(
    threadId: GroupThreadPath,
    body: ThreadTopicRequest,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
):
    _thread(threadId).update_topic(body.topic)
    return Response(status_code=204)


@app.delete("/admin/threads/<threadId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def delete_thread(threadId: GroupThreadPath):  # noqa: N803
    """Dismisses the group (irrevocable)."""
    chat.delete_chat_thread(path_value(app, "threadId", threadId))
    return Response(status_code=204)


@app.post(
    "/admin/threads/<threadId>/messages",
    responses={201: doc("Sent: the message id", ThreadMessageSent), **THREAD_POST_ERRORS},
)
def send_thread_message(
    threadId: ThreadPath,
    body: ThreadMessageRequest,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
):
    """Sends a message; with an Idempotency-Key a repeat returns the first message's id and sends nothing."""
    message_id = _thread(threadId).send_message(
        body.content,
        body.sender,
        body.sender_display_name,
        body.type,
        body.metadata,
        idempotency_token=idempotency_key or None,
    )
    return json_response(201, ThreadMessageSent(id=message_id))


@app.get(
    "/admin/threads/<threadId>/messages",
    responses={
        200: doc("Messages and system events, newest first; source says where they were read", ChatMessagesPage),
        **THREAD_ERRORS,
    },
)
def list_thread_messages(
    threadId: ThreadPath,
    pageSize: PageSize = 50,
    startTime: StartTime = None,  # noqa: N803
    nextToken: Token = None,
):
    return json_response(200, _first_page(_thread(threadId).list_messages(pageSize, startTime), nextToken))


@app.get(
    "/admin/threads/<threadId>/messages/<messageId>", responses={200: doc("The message", ChatMessage), **THREAD_ERRORS}
)
def get_thread_message(threadId: ThreadPath, messageId: MessagePath):  # noqa: N803
    return json_response(200, _thread(threadId).get_message(path_value(app, "messageId", messageId)))


@app.put("/admin/threads/<threadId>/messages/<messageId>", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def update_thread_message(
    threadId: ThreadPath,
    messageId: MessagePath,
    body: ThreadMessageUpdate,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
):
    _thread(threadId).update_message(path_value(app, "messageId", messageId), body.content, body.metadata)
    return Response(status_code=204)


@app.delete("/admin/threads/<threadId>/messages/<messageId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def delete_thread_message(threadId: ThreadPath, messageId: MessagePath):  # noqa: N803
    """Recalls the message for everyone."""
    _thread(threadId).delete_message(path_value(app, "messageId", messageId))
    return Response(status_code=204)


@app.post("/admin/threads/<threadId>/readReceipts", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def send_read_receipt(
    threadId: ThreadPath,
    body: ReadReceiptRequest,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
):
    _thread(threadId).send_read_receipt(body.message_id, body.reader)
    return Response(status_code=204)


@app.get(
    "/admin/threads/<threadId>/readReceipts",
    responses={200: doc("Each reader's newest read message", ChatReadReceiptsPage), **THREAD_ERRORS},
)
def list_read_receipts(threadId: ThreadPath, pageSize: Annotated[int, Query(ge=1, le=20)] = 20):  # noqa: N803
    return json_response(200, _first_page(_thread(threadId).list_read_receipts(pageSize), None))


@app.post(
    "/admin/threads/<threadId>/participants",
    responses={
        200: doc("Who was added, and who not (with Tencent's code)", AddChatParticipantsResult),
        **THREAD_POST_ERRORS,
    },
)
def add_thread_participants(
    threadId: GroupThreadPath,
    body: ParticipantsRequest,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
):
    return json_response(200, _thread(threadId).add_participants(body.participants))


@app.get(
    "/admin/threads/<threadId>/participants",
    responses={200: doc("The participants", ChatParticipantsPage), **THREAD_ERRORS},
)
def list_thread_participants(
    threadId: ThreadPath,
    pageSize: PageSize = 100,  # noqa: N803
    nextToken: Token = None,
):
    return json_response(200, _first_page(_thread(threadId).list_participants(pageSize), nextToken))


@app.delete("/admin/threads/<threadId>/participants/<userId>", responses={204: NO_CONTENT, **THREAD_ERRORS})
def remove_thread_participant(threadId: GroupThreadPath, userId: UserPath):  # noqa: N803
    _thread(threadId).remove_participant(path_value(app, "userId", userId))
    return Response(status_code=204)


@app.post("/admin/threads/<threadId>/typing", responses={204: NO_CONTENT, **THREAD_POST_ERRORS})
def send_typing(threadId: C2CThreadPath, body: TypingRequest, idempotency_key: IdempotencyKey = None):  # noqa: N803
    """One-to-one threads only: Tencent IM shows no typing notice in groups (a 422 says so)."""
    _thread(threadId).send_typing_notification(body.sender)
    return Response(status_code=204)


@app.get(
    "/admin/conversations/<conversationId>/messages",
    responses={200: doc("One page of the conversation, newest first", HistoryPage), **ERRORS},
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
    page = history.page(
        path_value(app, "conversationId", conversationId),
        start_time=startTime,
        end_time=endTime,
        page_size=pageSize,
        next_token=nextToken,
    )
    return json_response(200, page)


@app.get(
    "/admin/conversations/<conversationId>/messages/<messageId>",
    responses={200: doc("The message (or system event)", HistoryEntry), **ERRORS},
)
def conversation_message(conversationId: ConversationPath, messageId: MessagePath):  # noqa: N803
    return json_response(
        200, history.get(path_value(app, "conversationId", conversationId), path_value(app, "messageId", messageId))
    )


@app.post(
    "/admin/archive/backfill",
    responses={200: doc("This call's progress; call again with nextToken until done", BackfillProgress), **POST_ERRORS},
)
def archive_backfill(body: BackfillRequest, idempotency_key: IdempotencyKey = None):
    """Puts messages archived before the history index into it, for about 20 s a call."""
    return json_response(200, archiver.backfill(body.next_token, BACKFILL_SECONDS))


# ------------------------------------------------------------------ errors, in one place


def _history_field(exc: InvalidHistoryRequest) -> Problem:
    field = ("path." if exc.field in ("conversationId", "messageId") else "query.") + exc.field
    return Problem(422, f"{field}: {exc}", field)


DOMAIN_ERRORS: ErrorTable = {
    InvalidPath: lambda exc: Problem(422, f"{exc.field}: {exc}", exc.field),
    InvalidHistoryRequest: _history_field,
    MessageNotFound: status(404, "messageId"),
    ChatMessageNotFound: status(404, "messageId"),
    JobNotFound: status(404, "jobId"),
    AccountNotFound: status(404),
    RobotNotFound: status(404, "botId"),
    ConfigNotFound: status(404, "botId"),
    StoredConfigInvalid: status(409, "botId"),
    RobotLimitReached: status(409, "robotId"),
    ScheduleInPast: lambda exc: Problem(422, str(exc), exc.field),
    # A nextToken of the documented form that this API did not give: no such page.
    InvalidToken: status(404, "nextToken"),
    NotSupportedByTencent: lambda exc: Problem(422, f"not offered by Tencent IM: {exc}", exc.operation),
    ThreadNotFound: status(404, "threadId"),
    InvalidChatRequest: lambda exc: Problem(400 if exc.field == "nextToken" else 422, str(exc), exc.field),
    # Valid in form, refused by this thread: the user is not in it.
    NotAParticipant: lambda exc: Problem(403, str(exc), exc.field),
    IdempotencyConflict: lambda exc: Problem(
        422, "this Idempotency-Key was used with another request", "Idempotency-Key"
    ),
    OperationInProgress: status(409, "Idempotency-Key"),
}
use_errors(app, DOMAIN_ERRORS, logger)


# The gateway's request id, also in the access log and in the apigw-requestid header the caller got.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    writes.register_lambda_context(context)
    prepared = prepare(event)
    return prepared if is_answer(prepared) else app.resolve(prepared, context)
