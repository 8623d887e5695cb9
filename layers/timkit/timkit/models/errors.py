"""The one error body of the HTTP APIs (admin and merger): every 4xx and 5xx they answer has these
fields, each present (null or empty when it does not apply), so a client reads any error one way."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    # What went wrong, for a person; with a 422 from the schema, the first problem.
    message: str
    # What the error is about: a field ("body.robotId", "path.botId"), a header, an ID's name.
    field: str | None = None
    # The limit a request broke (the merger API's "size", "levels", "blocked"...).
    limit: str | None = None
    # Every field that failed the schema (up to 20); empty otherwise.
    errors: list[FieldError] = []
