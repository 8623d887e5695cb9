"""Tencent IM REST domains by region (docs/protocol.md §4.1)."""

from __future__ import annotations

REGION_DOMAINS = {
    "china": "console.tim.qq.com",
    "singapore": "adminapisgp.im.qcloud.com",
    "seoul": "adminapikr.im.qcloud.com",
    "frankfurt": "adminapiger.im.qcloud.com",
    "mumbai": "adminapiind.im.qcloud.com",
    "silicon-valley": "adminapiusa.im.qcloud.com",
    "tokyo": "adminapijpn.im.qcloud.com",
    "jakarta": "adminapiidn.im.qcloud.com",
}


def api_base(region: str, override: str | None = None) -> str:
    """The REST base URL: ``override`` (``TIM_API_BASE``) when given, else the region's domain."""
    if override:
        return override.rstrip("/")
    try:
        return f"https://{REGION_DOMAINS[region]}"
    except KeyError:
        raise ValueError(f"unknown Tencent IM region {region!r}; one of {sorted(REGION_DOMAINS)}") from None
