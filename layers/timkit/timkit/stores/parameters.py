"""Secrets and parameters through Powertools Parameters (boto3, with its credential chain, retries
and errors), for every function but the callback (which reads them with the standard-library
client: see :mod:`timkit.aws_json`).

Powertools keeps no copy here (``max_age=0``): :class:`timkit.stores.config.ConfigStore` caches,
on an injectable clock, and keeps the last good value through an outage, where Powertools' own
cache would fail every call until it ends.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters import get_parameter, get_secret


class PowertoolsSource:
    """A :class:`timkit.stores.config.ConfigSource`. boto3's own timeouts and retries apply."""

    def secret_string(self, secret_id: str, timeout: float) -> str:
        value = get_secret(secret_id, max_age=0)
        if not isinstance(value, str):
            raise TypeError("the secret holds binary data, not a JSON string")
        return value

    def parameter(self, name: str, timeout: float) -> str:
        return get_parameter(name, decrypt=True, max_age=0)
