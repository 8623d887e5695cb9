"""What counts as the app's SDKAppID key: anything else means "not configured".

The key signs every admin UserSig and verifies every chat user's sig on the merger API, so a key
anyone could guess (empty, a placeholder, a few characters typed as a stand-in) must never be used:
whoever knows the public SDKAppID could sign as any user with it. Every user of the key goes
through :func:`usable_key`; :class:`timkit.stores.appkey.AppKeyStore` reads it from Secrets Manager.
"""

from __future__ import annotations

from collections.abc import Callable

from timkit.tim.errors import TimError

# Where operators set the key: named by every refusal (the value never is).
KEY_SETTING = "secret_key in the TIM_SECRET_ID secret"
# Tencent's console keys are 64 hex characters (256 bits). 32 characters is still 128 bits of hex,
# so a key made some other way is not refused for its length alone, while every word or short
# stand-in typed into the secret is.
MIN_KEY_LENGTH = 32
# Stand-ins seen in templates and docs (compared case-insensitively), and the local stack's former
# fixed key, which is public in this repository's history.
PLACEHOLDER_KEYS = frozenset(
    {
        "replace_me",
        "replace-me",
        "replaceme",
        "changeme",
        "change_me",
        "change-me",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "secret_key",
        "secretkey",
        "<secret_key>",
        "<your-secret-key>",
        "todo",
        "tbd",
        "xxx",
        "placeholder",
        "local-demo-key-not-secret-0000000000000000000000000000000000000000",
    }
)

# A key, or what returns the current one (it may change: keys rotate).
KeySource = str | Callable[[], str]


class KeyNotConfigured(TimError):
    """The app's key is empty, a placeholder or implausibly short: no UserSig is made or accepted
    with it. Says why and where to set it, never the value. ``retryable``: an operator can set the
    key at any time, and every function picks it up within ``CONFIG_CACHE_SECONDS``."""

    def __init__(self, reason: str, setting: str = KEY_SETTING) -> None:
        self.reason = reason
        what = "the app's key from the Tencent IM console" if setting == KEY_SETTING else "a generated secret"
        super().__init__("", None, f"{setting} is not configured ({reason}): set it to {what}")

    @property
    def retryable(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.error_info


def key_problem(key: str) -> str | None:
    """Why ``key`` must not be used, or None when it may."""
    if not key.strip():
        return "it is empty"
    if key.strip().lower() in PLACEHOLDER_KEYS:
        return "it is a placeholder"
    if len(key) < MIN_KEY_LENGTH:
        return f"it is shorter than {MIN_KEY_LENGTH} characters; Tencent's keys have 64"
    return None


def usable_key(key: str) -> str:
    """``key`` if it may be used, else :class:`KeyNotConfigured`."""
    if (problem := key_problem(key)) is not None:
        raise KeyNotConfigured(problem)
    return key
