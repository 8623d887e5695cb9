"""The AI chatbot: a bot worker answers users' messages to ``@RBT#`` accounts with the team's own
model, streaming the answer as chatbot custom messages (docs/protocol.md §8.3) or native stream
messages (§8.4).

* :mod:`timkit.chatbot.providers`: one streaming interface over the model (Bedrock ConverseStream,
  any OpenAI-compatible chat-completions endpoint).
* :mod:`timkit.chatbot.stream`: the answer as Tencent messages (first send, paced modifications,
  roll-over past the size cap, the final one, the error message).
* :mod:`timkit.chatbot.turn`: one user message answered, with the interrupt and the time limit.
"""
