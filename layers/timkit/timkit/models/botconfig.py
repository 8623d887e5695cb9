"""A chatbot's configuration: which model answers an @RBT# bot and how (PUT /admin/bots/{botId}/config).

JSON names are camelCase like the rest of the admin API; the bot worker reads the same model from
the bot state table. Every limit is a constraint here (and so in the OpenAPI document), and the
types are strict: a ``"0.7"`` or a ``true`` where a number goes is a 422 naming the field, not
taken for what it might mean.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, Strict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from timkit.models.admin import ApiModel, given
from timkit.models.elements import WholeNumber

Provider = Literal["bedrock", "openai"]
MAX_SYSTEM_PROMPT_CHARS = 8000
MAX_TYPING_TEXT_CHARS = 100
MAX_BASE_URL_CHARS = 2048
MAX_KEY_NAME_CHARS = 64
# The chatbot worker's Lambda timeout is 900 s: the longest answer, with room for its last messages.
MAX_ANSWER_SECONDS = 600

# https to any host; plain http only to this machine (a local model server), where nothing crosses a
# network. No user:password@ (credentials belong in the secret), no query or fragment: the provider
# appends /chat/completions; a port is 1 to 65535. The validator below drops a trailing "/".
BASE_URL_PATTERN = (
    r"^(https://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"|http://(localhost|[A-Za-z0-9.-]+\.localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]))"
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
)
# A name of a key in the chatbot secret, not a key: a value shaped like an OpenAI-style key
# (sk-...) is refused, so a key pasted here is never stored in the table or shown by GET.
KEY_NAME_PATTERN = r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"


def _base_url(value: str) -> str:
    return value.rstrip("/")


def _key_name(value: str) -> str:
    if value.lower().startswith("sk-"):
        raise ValueError("give the NAME of the key in the chatbot secret, not the key itself")
    return value


class BotConfig(ApiModel):
    # _provider_fields, in the document.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"allOf": [{"properties": {"provider": {"const": "openai"}}}, given("baseUrl")]},
                {
                    "allOf": [
                        {"properties": {"provider": {"const": "bedrock"}}},
                        {"not": {"anyOf": [given("baseUrl"), given("apiKey")]}},
                    ]
                },
            ]
        }
    )

    provider: Annotated[Provider, Field(description="bedrock (ConverseStream) or openai (any compatible endpoint)")]
    model: Annotated[
        str,
        Strict(),
        Field(min_length=1, max_length=256, pattern=NO_CONTROL, description="The model ID (Bedrock) or name"),
    ]
    base_url: (
        Annotated[
            str,
            Strict(),
            Field(
                max_length=MAX_BASE_URL_CHARS,
                pattern=BASE_URL_PATTERN,
                description="openai only, and required for it: the endpoint the path /chat/completions is "
                "appended to (https; http only to localhost or a loopback address)",
            ),
            AfterValidator(_base_url),
        ]
        | None
    ) = None
    api_key: (
        Annotated[
            str,
            Strict(),
            Field(
                min_length=1,
                max_length=MAX_KEY_NAME_CHARS,
                pattern=KEY_NAME_PATTERN,
                description="openai only: the NAME of the API key in the chatbot secret (none: no Authorization)",
            ),
            AfterValidator(_key_name),
        ]
        | None
    ) = None
    system_prompt: Annotated[str, Strict(), Field(max_length=MAX_SYSTEM_PROMPT_CHARS)] = ""
    temperature: Annotated[float, Strict(), Field(ge=0, le=2)] = 0.7
    max_tokens: Annotated[
        int, Strict(), Field(ge=1, le=8192, description="The most tokens an answer has"), WholeNumber
    ] = 1024
    context_turns: Annotated[
        int,
        Strict(),
        Field(ge=0, le=50, description="Earlier turns of the conversation sent as context"),
        WholeNumber,
    ] = 10
    max_answer_seconds: Annotated[
        int,
        Strict(),
        Field(ge=5, le=MAX_ANSWER_SECONDS, description="An answer still streaming then is ended"),
        # After the constraints: it runs first, and they stay JSON Schema's minimum and maximum.
        WholeNumber,
    ] = 120
    streaming_mode: Annotated[
        Literal["custom", "native"],
        Field(description="custom: chatbotPlugin messages modified as they grow; native: TIMStreamElem"),
    ] = "custom"
    typing_text: (
        Annotated[
            str,
            Strict(),
            Field(
                min_length=1,
                max_length=MAX_TYPING_TEXT_CHARS,
                description="Shown while the model has not started answering (none: no placeholder)",
            ),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _provider_fields(self) -> Self:
        # Raised on the field they are about (a plain ValueError here would name the body).
        problems = []
        if self.provider == "openai" and self.base_url is None:
            problems.append(("baseUrl", "the openai provider needs a baseUrl"))
        if self.provider == "bedrock" and self.base_url is not None:
            problems.append(("baseUrl", "only the openai provider takes a baseUrl"))
        if self.provider == "bedrock" and self.api_key is not None:
            problems.append(("apiKey", "only the openai provider takes an apiKey (Bedrock uses the function's role)"))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(type=PydanticCustomError("provider_field", message), loc=(field,), input=None)
                    for field, message in problems
                ],
            )
        return self
