"""`policy validate | push | show`: the before-send policy document, checked with the callback's own model.

Where the policy lives is the stack's POLICY_SOURCE (template.yaml's PolicySource output): an SSM
parameter (``ssm:NAME``) or the ``policy`` key of the callback secret (``secret:``). ``--parameter``
or ``--secret`` name the place directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from timctl.client import AdminClient, CliError
from timctl.message import read_text
from timctl.output import print_json
from timctl.stack import CALLBACK_SECRET, POLICY_PARAMETER, POLICY_SOURCE, Stack
from timkit.policy import Policy, PolicyDocument

# The callback secret's key for the policy (timkit.stores.config.CallbackSecret).
POLICY_KEY = "policy"
# A Standard SSM parameter's limit; larger values need the (charged) Advanced tier.
STANDARD_PARAMETER_BYTES = 4096


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    policy = commands.add_parser(
        "policy",
        parents=[common],
        help="check, store and show the before-send policy document",
        description="The policy document the callback applies to before-send messages (README, 'Policy document'), "
        "checked with the same model the callback loads it with.",
    )
    actions = policy.add_subparsers(dest="action", required=True, metavar="ACTION")

    validate = actions.add_parser(
        "validate", parents=[common], help="check a policy file (no AWS call)", description="Exits 0 when valid, 2 not."
    )
    validate.add_argument("file", metavar="FILE", help="the policy JSON ('-': stdin)")
    validate.set_defaults(func=validate_policy, offline=True)

    push = actions.add_parser(
        "push",
        parents=[common],
        help="validate a policy file, then store it where the stack reads it",
        description="Validates FILE, then writes it to the stack's policy place: with --stack, the one its "
        "PolicySource output names (the SSM parameter, or the policy key of the callback secret); else "
        "--parameter or --secret. Functions pick it up within CONFIG_CACHE_SECONDS.",
    )
    push.add_argument("file", metavar="FILE", help="the policy JSON ('-': stdin)")
    _add_place_arguments(push)
    push.set_defaults(func=push_policy)

    show = actions.add_parser(
        "show",
        parents=[common],
        help="print the stored policy document (and whether it is valid)",
        description="Prints the stored policy document; exits 1 when it is not valid (the callback then keeps "
        "the last good one it loaded, or allows everything).",
    )
    _add_place_arguments(show)
    show.set_defaults(func=show_policy)


def _add_place_arguments(parser: argparse.ArgumentParser) -> None:
    place = parser.add_argument_group("where (default: from --stack)").add_mutually_exclusive_group()
    place.add_argument("--parameter", metavar="NAME", help="the SSM parameter (POLICY_SOURCE=ssm:NAME)")
    place.add_argument(
        "--secret", metavar="ID", help="the callback secret's name or ARN (POLICY_SOURCE=secret:), its policy key"
    )


# ----------------------------------------------------------------------------- checking


def parse(text: str, source: str) -> PolicyDocument:
    """The document, as the callback would load it; a CliError naming every problem's path otherwise."""
    try:
        document = PolicyDocument.model_validate_json(text)
        Policy(document)  # compiles the word automata, as the callback does on load
    except ValidationError as exc:
        problems = [f"{_location(error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)]
        raise CliError(f"{source} is not a valid policy document:\n  " + "\n  ".join(problems)) from None
    return document


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the document)"


def _summary(document: PolicyDocument) -> str:
    return (
        f"{len(document.blocked_words)} blocked words ({document.blocked_action}), "
        f"{len(document.masked_words)} masked words, bodies up to {document.max_body_bytes} bytes"
    )


# ----------------------------------------------------------------------------- where it lives


@dataclass(frozen=True)
class Place:
    kind: str  # "ssm" or "secret"
    name: str
    region: str | None

    def __str__(self) -> str:
        return f"SSM parameter {self.name}" if self.kind == "ssm" else f"the policy key of secret {self.name}"

    def client(self) -> Any:
        import boto3

        return boto3.client("ssm" if self.kind == "ssm" else "secretsmanager", region_name=self.region)


def place(args: argparse.Namespace) -> Place:
    stack: Stack | None = getattr(args, "stack_info", None)
    region = args.region or (stack.region if stack else None)
    if args.parameter:
        return Place("ssm", args.parameter, region)
    if args.secret:
        return Place("secret", args.secret, region)
    if stack is None:
        raise CliError("where is the policy? give --stack NAME, --parameter NAME or --secret ID")
    # Stacks from before the PolicySource output read the policy from their parameter.
    source = stack.outputs.get(POLICY_SOURCE) or f"ssm:{stack.output(POLICY_PARAMETER)}"
    scheme, _, where = source.partition(":")
    if scheme == "ssm" and where:
        return Place("ssm", where, region)
    if scheme == "secret":
        return Place("secret", stack.output(CALLBACK_SECRET), region)
    raise CliError(f"stack {stack.name}'s policy source is {source!r}: timctl stores policies in ssm: or secret:")


def _aws_call(where: Place, call: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(f"{where}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise CliError(f"{where}: {exc}") from None


def _secret_object(where: Place, client: Any) -> dict[str, Any]:
    raw = _aws_call(where, client.get_secret_value, SecretId=where.name).get("SecretString")
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # Not quoted: the secret holds the callback token.
        raise CliError(f"{where}: the secret is not a JSON object; timctl leaves it as it is")
    return value


def read_stored(where: Place) -> str | None:
    """The stored document's text; None when the secret holds no policy."""
    client = where.client()
    if where.kind == "ssm":
        return str(_aws_call(where, client.get_parameter, Name=where.name, WithDecryption=True)["Parameter"]["Value"])
    policy = _secret_object(where, client).get(POLICY_KEY)
    return policy if policy is None or isinstance(policy, str) else json.dumps(policy)


def store(where: Place, document_text: str) -> None:
    client = where.client()
    if where.kind == "ssm":
        if len(document_text.encode()) > STANDARD_PARAMETER_BYTES:
            # Overwriting keeps the parameter's tier; a Standard one refuses this with a less clear message.
            current = _aws_call(
                where, client.describe_parameters, ParameterFilters=[{"Key": "Name", "Values": [where.name]}]
            ).get("Parameters") or [{}]
            if current[0].get("Tier", "Standard") == "Standard":
                raise CliError(
                    f"the policy is {len(document_text.encode())} bytes, more than the {STANDARD_PARAMETER_BYTES} "
                    f"a Standard SSM parameter holds: move {where.name} to the Advanced tier, or keep the policy "
                    "in the callback secret (POLICY_SOURCE=secret:)"
                )
        _aws_call(where, client.put_parameter, Name=where.name, Value=document_text, Overwrite=True)
        return
    secret = _secret_object(where, client)
    secret[POLICY_KEY] = json.loads(document_text)
    _aws_call(where, client.put_secret_value, SecretId=where.name, SecretString=json.dumps(secret))


# ----------------------------------------------------------------------------- commands


def validate_policy(args: argparse.Namespace, client: AdminClient) -> int:
    source = "stdin" if args.file == "-" else args.file
    document = parse(read_text(args.file), source)
    print(f"{source}: valid: {_summary(document)}")
    return 0


def push_policy(args: argparse.Namespace, client: AdminClient) -> int:
    source = "stdin" if args.file == "-" else args.file
    text = read_text(args.file)
    document = parse(text, source)
    where = place(args)
    # Stored as written (the callback reads the same JSON), without the indentation.
    compact = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    store(where, compact)
    print(f"stored in {where}: {_summary(document)}")
    return 0


def show_policy(args: argparse.Namespace, client: AdminClient) -> int:
    where = place(args)
    text = read_stored(where)
    if text is None:
        print(f"{where}: no policy (every message is allowed)", file=sys.stderr)
        return 0
    try:
        answer: Any = json.loads(text)
    except ValueError:
        answer = text
    if isinstance(answer, str):
        print(answer)
    else:
        print_json(answer)
    try:
        document = parse(text, str(where))
    except CliError as exc:
        print(f"timctl: {exc}", file=sys.stderr)
        return 1
    if not args.json:
        print(f"{where}: valid: {_summary(document)}", file=sys.stderr)
    return 0
