"""The ReAct conversational agent, its tools and its summary memory."""

__all__: list[str] = []
