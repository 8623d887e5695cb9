"""The WebSocket gateway: frames in (timkit.ws.gateway), frames out (timkit.ws.fanout) and the
mapping between frames and Tencent messages (timkit.ws.mapping)."""
