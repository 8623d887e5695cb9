"""The SAM transform of a template, run by the tools venv's Python (`make tools`: SAM CLI brings samtranslator).

    .tools/bin/python -I local/sam_translate.py < request.json > transformed.json

The request is ``{"template": {...}, "parameters": {...}}``; the answer is the transformed template as
JSON. samtranslator pins its own pydantic, so it runs here rather than in the app's venv, whose
pydantic the layer's pin decides (local/template.py calls this and caches the answer).

Runs as a plain script in that venv: it imports only the standard library, boto3 and samtranslator.
"""

from __future__ import annotations

import json
import sys
from typing import Any

REGION = "us-east-1"  # as local/template.py's REGION


class _AnyManagedPolicy(dict[str, str]):
    # samtranslator asks for managed policy ARNs by name (normally through IAM); any name resolves.
    def get(self, name: str, default: Any = None) -> str:  # type: ignore[override]  # never missing
        return f"arn:aws:iam::aws:policy/{name}"


def main() -> int:
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    request = json.load(sys.stdin)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    try:
        transformed = translator.translate(
            request["template"],
            parameter_values=request["parameters"],
            get_managed_policy_map=lambda: _AnyManagedPolicy(),
        )
    except InvalidDocumentException as exc:
        # What is wrong with the template, without a traceback of the translator.
        print("\n".join(str(cause.message) for cause in exc.causes) or str(exc), file=sys.stderr)
        return 1
    json.dump(transformed, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
