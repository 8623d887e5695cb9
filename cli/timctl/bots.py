"""`bots config set/get/delete`: which model answers an @RBT# bot, and how."""

from __future__ import annotations

import argparse
from typing import Any

from timctl.client import AdminClient, CliError, path
from timctl.message import read_json
from timctl.output import print_json, print_rows

# Option → the configuration's JSON field (the API checks the values: a 422 names the field).
FIELDS = {
    "provider": "provider",
    "model": "model",
    "base_url": "baseUrl",
    "api_key": "apiKey",
    "system_prompt": "systemPrompt",
    "temperature": "temperature",
    "max_tokens": "maxTokens",
    "context_turns": "contextTurns",
    "max_answer_seconds": "maxAnswerSeconds",
    "streaming_mode": "streamingMode",
    "typing_text": "typingText",
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    bots = commands.add_parser("bots", parents=[common], help="configure the chatbots (@RBT# robots)")
    bots_commands = bots.add_subparsers(dest="action", required=True, metavar="ACTION")
    config = bots_commands.add_parser(
        "config", parents=[common], help="set, show or delete the model configuration of a bot"
    )
    config_commands = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")

    put = config_commands.add_parser(
        "set",
        parents=[common],
        help="set a bot's configuration",
        description="Sets which model answers an @RBT# bot and how. The configuration is replaced as a whole: "
        "what is not given takes its default, unless --update starts from the current one.",
    )
    put.add_argument("bot", metavar="BOT", help="the bot's robot ID, e.g. @RBT#assistant")
    put.add_argument("--file", metavar="FILE", help="a JSON configuration ('-': stdin) that the options here add to")
    put.add_argument("--update", action="store_true", help="change only the options given, keep the rest")
    model = put.add_argument_group("model")
    model.add_argument("--provider", choices=["bedrock", "openai"], help="Amazon Bedrock or an OpenAI-compatible API")
    model.add_argument("--model", help="the model ID (Bedrock) or name")
    model.add_argument(
        "--base-url", metavar="URL", help="openai: the endpoint, e.g. https://api.openai.com/v1 (http: localhost only)"
    )
    model.add_argument("--api-key", metavar="NAME", help="openai: the NAME of the API key in the chatbot secret")
    prompt = model.add_mutually_exclusive_group()
    prompt.add_argument("--system-prompt", metavar="TEXT", help="the system prompt")
    prompt.add_argument("--system-prompt-file", metavar="FILE", help="the system prompt from a text file")
    answer = put.add_argument_group("answers")
    answer.add_argument("--temperature", type=float, metavar="T", help="0 to 2 (default 0.7)")
    answer.add_argument("--max-tokens", type=int, metavar="N", help="the most tokens an answer has (default 1024)")
    answer.add_argument(
        "--context-turns", type=int, metavar="N", help="earlier turns sent as context, 0 to 50 (default 10)"
    )
    answer.add_argument(
        "--max-answer-seconds", type=int, metavar="S", help="an answer still streaming then is ended (default 120)"
    )
    answer.add_argument(
        "--streaming-mode", choices=["custom", "native"], help="chatbotPlugin messages (default) or TIMStreamElem"
    )
    answer.add_argument("--typing-text", metavar="TEXT", help="a placeholder shown until the model starts answering")
    put.set_defaults(func=config_set)

    get = config_commands.add_parser("get", parents=[common], help="show a bot's configuration")
    get.add_argument("bot", metavar="BOT", help="the bot's robot ID")
    get.set_defaults(func=config_get)
    delete = config_commands.add_parser("delete", parents=[common], help="delete a bot's configuration")
    delete.add_argument("bot", metavar="BOT", help="the bot's robot ID")
    delete.set_defaults(func=config_delete)


def _route(bot: str) -> str:
    return path("admin", "bots", bot, "config")


def config_set(args: argparse.Namespace, client: AdminClient) -> int:
    config: dict[str, Any] = client.get(_route(args.bot)) if args.update else {}
    if args.file:
        loaded = read_json(args.file)
        if not isinstance(loaded, dict):
            raise CliError(f"{args.file}: give a JSON object (the configuration)")
        config.update(loaded)
    if args.system_prompt_file:
        try:
            with open(args.system_prompt_file, encoding="utf-8") as f:
                args.system_prompt = f.read()
        except OSError as exc:
            raise CliError(f"cannot read {args.system_prompt_file}: {exc.strerror}") from None
    given = {field: getattr(args, option) for option, field in FIELDS.items()}
    config.update({field: value for field, value in given.items() if value is not None})
    if args.provider == "bedrock":
        # Switching to Bedrock: the OpenAI-only settings kept by --update or --file would be refused.
        config.pop("baseUrl", None)
        config.pop("apiKey", None)
    if not config:
        raise CliError("give the configuration: --provider and --model at least, or --file")
    _show(args, client.put(_route(args.bot), config))
    return 0


def config_get(args: argparse.Namespace, client: AdminClient) -> int:
    _show(args, client.get(_route(args.bot)))
    return 0


def config_delete(args: argparse.Namespace, client: AdminClient) -> int:
    client.delete(_route(args.bot))
    if not args.json:
        print(f"deleted the configuration of {args.bot}")
    return 0


def _show(args: argparse.Namespace, config: dict[str, Any]) -> None:
    if args.json:
        print_json(config)
        return
    print(f"{args.bot}:")
    print_rows([("", f"{field}:", _one_line(config[field])) for field in FIELDS.values() if field in config])


def _one_line(value: Any) -> str:
    text = str(value)
    # A long or multi-line system prompt: its start, and how long it is.
    if "\n" in text or len(text) > 60:
        start = text.strip().splitlines()[0][:60] if text.strip() else ""
        return f"{start}… ({len(text)} characters)"
    return text
