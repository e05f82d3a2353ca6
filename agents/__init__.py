"""The ReAct conversational agent, its tools and its summary memory.

Everything is importable from here; nothing heavy loads at import time.
"""

from lcelkit.agents.budget import FittedPrompt, PromptBudget, count_prompt
from lcelkit.agents.memory import MemorySnapshot, SessionInfo, SummaryMemoryStore
from lcelkit.agents.parser import Action, Finish, ReActOutputParser, ReActParseError, parse_react
from lcelkit.agents.react import (
    AgentInput,
    AgentOutput,
    AgentStep,
    ConversationalAgent,
    supports_tool_calling,
)
from lcelkit.agents.tools import (
    SEARCH_TOOL_NAME,
    calculator_tool,
    current_datetime_tool,
    default_tools,
    safe_eval,
    search_documents_tool,
)

__all__ = [
    "SEARCH_TOOL_NAME",
    "Action",
    "AgentInput",
    "AgentOutput",
    "AgentStep",
    "ConversationalAgent",
    "Finish",
    "FittedPrompt",
    "MemorySnapshot",
    "PromptBudget",
    "ReActOutputParser",
    "ReActParseError",
    "SessionInfo",
    "SummaryMemoryStore",
    "calculator_tool",
    "count_prompt",
    "current_datetime_tool",
    "default_tools",
    "parse_react",
    "safe_eval",
    "search_documents_tool",
    "supports_tool_calling",
]
