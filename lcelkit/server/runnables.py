"""What the server serves: typed wire schemas and a lazily built, error-translating proxy.

:class:`ServedRunnable` stands in for the real RAG chain or agent. It has fixed, typed
input/output schemas and config specs, so the LangServe handler can be built (and
``/input_schema`` answered) without loading a model; the real runnable is built on
the first call that needs it (in a worker thread, once, under a lock; a failed build
is retried on the next call). Every call is delegated unchanged (config included), so
``astream_events`` shows the real chain's events; exceptions are passed through a
``translate`` function that turns raw backend failures (``httpx.ConnectError`` ...)
into the project's errors, which the app maps to HTTP statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Annotated, Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    WithJsonSchema,
)

import lcelkit.agents.react
import lcelkit.chains.rag

__all__ = [
    "AgentInput",
    "AgentOutput",
    "AgentQuestionInput",
    "AgentRequest",
    "RagInput",
    "RagOutput",
    "RagRequest",
    "ServedRunnable",
    "Translate",
    "session_spec",
]

Translate = Callable[[BaseException], BaseException]
MAX_TEXT_CHARS = 100_000  # a question / chat turn longer than this is refused (422)


class RagInput(lcelkit.chains.rag.RagInput):
    """Input of ``/rag``: one question (the chain's schema, stricter on the wire)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S", description="The user's question."
    )


class AgentInput(lcelkit.agents.react.AgentInput):
    """Input of ``/agent``: one chat turn (memory is kept per session on the server)."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S", description="The user's message."
    )


class AgentQuestionInput(BaseModel):
    """``{"question": ...}``: the agent takes the RAG chain's input form too."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S", description="The user's message."
    )


def _text(what: str) -> Any:
    """A plain-string input (what ``RemoteRunnable(...).invoke("...")`` sends)."""
    return Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_TEXT_CHARS,
            pattern=r"\S",
            title=f"{what} (plain string)",
            description=f"{what} as a plain string.",
        ),
    ]


def _rag_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "text"
    return "object" if isinstance(value, dict | RagInput) else None


def _agent_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "text"
    if isinstance(value, HumanMessage):
        return "message"
    if isinstance(value, AgentInput | AgentQuestionInput):
        return "object" if isinstance(value, AgentInput) else "question"
    if not isinstance(value, dict):
        return None
    if "input" not in value and "question" in value:
        return "question"
    if "input" not in value and ("content" in value or "type" in value):
        return "message"
    return "object"


# The wire inputs are the forms the runnables take in-process (chains.rag._question_of,
# agents.react._input_text): a plain string or the object form; the agent also takes
# ``{"question": ...}`` and a human message. A root model keeps /input_schema typed (a
# ``oneOf`` of the forms); LangServe validates every input against it and answers 422
# with pydantic's reasons (for the form the input has: the discriminator picks it, so a
# dict missing its field is told which field, not that it is not a string). After
# validation LangServe unpacks the object forms to dicts and passes strings and messages
# through unchanged.
class RagRequest(  # type: ignore[misc]
    RootModel[
        Annotated[
            Annotated[_text("The question"), Tag("text")] | Annotated[RagInput, Tag("object")],
            Discriminator(
                _rag_form,
                custom_error_type="rag_input",
                custom_error_message='send a question as a string or {"question": "..."}',
            ),
        ]
    ]
):
    """Input of ``/rag``: the question as a plain string, or ``{"question": "..."}``."""


def _human_text(message: HumanMessage) -> HumanMessage:
    """A human message's content must be text, as limited as the other forms."""
    content = message.content
    if not isinstance(content, str):
        raise ValueError("the message's content must be a string")
    if not content.strip():
        raise ValueError("the message's content is empty")
    if len(content) > MAX_TEXT_CHARS:
        raise ValueError(f"the message's content is longer than {MAX_TEXT_CHARS} characters")
    return message


# The wire form of a human message, as the server accepts it (what /input_schema and the
# OpenAPI document show): LangChain's own fields may come along (``RemoteRunnable`` sends
# them), the content is one string like the other input forms.
_HUMAN_MESSAGE_SCHEMA = {
    "title": "HumanMessage",
    "description": "A human chat message, as LangChain serializes it.",
    "type": "object",
    "properties": {
        "type": {"const": "human", "type": "string"},
        "content": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TEXT_CHARS,
            "pattern": r"\S",
        },
    },
    "required": ["type", "content"],
}


class AgentRequest(  # type: ignore[misc]
    RootModel[
        Annotated[
            Annotated[_text("The message"), Tag("text")]
            | Annotated[AgentInput, Tag("object")]
            | Annotated[AgentQuestionInput, Tag("question")]
            | Annotated[
                HumanMessage,
                AfterValidator(_human_text),
                WithJsonSchema(_HUMAN_MESSAGE_SCHEMA),
                Tag("message"),
            ],
            Discriminator(
                _agent_form,
                custom_error_type="agent_input",
                custom_error_message='send a message as a string or {"input": "..."}',
            ),
        ]
    ]
):
    """Input of ``/agent``: the message as a plain string, ``{"input": "..."}``,
    ``{"question": "..."}`` or a human message (``{"type": "human", "content": "..."}``)."""


RagOutput = lcelkit.chains.rag.RagOutput
AgentOutput = lcelkit.agents.react.AgentOutput


def session_spec() -> ConfigurableFieldSpec:
    """The ``configurable.session_id`` the agent's memory is keyed by."""
    return ConfigurableFieldSpec(
        id="session_id",
        annotation=Annotated[str, Field(pattern=r"^[A-Za-z0-9._:@-]{0,128}$")],  # type: ignore[arg-type]
        name="Session ID",
        description="Conversation id (1-128 of letters, digits and ._:@-); the server keeps "
        "its memory. Empty: a new session.",
        default="",
    )


def _identity(exc: BaseException) -> BaseException:
    return exc


class ServedRunnable(Runnable[Any, Any]):
    """A proxy with fixed schemas that builds the real runnable on first use.

    ``batch_configs``: a hook that may rewrite the list of per-input configs of
    ``abatch`` (the agent gives each input of a batch without a session id its own).
    """

    def __init__(
        self,
        build: Runnable | Callable[[], Runnable],
        *,
        name: str,
        input_model: type[BaseModel],
        output_model: type[BaseModel],
        config_specs: Sequence[ConfigurableFieldSpec] = (),
        translate: Translate | None = None,
        batch_configs: Callable[[list[RunnableConfig]], list[RunnableConfig]] | None = None,
    ) -> None:
        self.name = name
        self._batch_configs = batch_configs
        self._build = None if isinstance(build, Runnable) else build
        self._inner: Runnable | None = build if isinstance(build, Runnable) else None
        self._input_model = input_model
        self._output_model = output_model
        self._config_specs = list(config_specs)
        self._translate = translate or _identity
        self._lock = threading.Lock()

    # -- schemas --------------------------------------------------------------------
    @property
    def InputType(self) -> type[BaseModel]:
        """The typed input model."""
        return self._input_model

    @property
    def OutputType(self) -> type[BaseModel]:
        """The typed output model."""
        return self._output_model

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The input model (fixed; does not build the runnable)."""
        return self._input_model

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The output model (fixed; does not build the runnable)."""
        return self._output_model

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """Configurable fields clients may send (the agent: ``session_id``)."""
        return list(self._config_specs)

    # -- building ---------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether the real runnable exists yet."""
        return self._inner is not None

    def get(self) -> Runnable:
        """The real runnable, built now if needed (blocking; thread-safe)."""
        inner = self._inner
        if inner is not None:
            return inner
        with self._lock:
            if self._inner is None:
                assert self._build is not None
                with self._translating():
                    self._inner = self._build()
            return self._inner

    async def aget(self) -> Runnable:
        """The real runnable; a first build runs in a worker thread."""
        inner = self._inner
        if inner is not None:
            return inner
        return await asyncio.to_thread(self.get)

    @contextlib.contextmanager
    def _translating(self) -> Iterator[None]:
        """Re-raise failures as the project's errors (unchanged when there is none)."""
        try:
            yield
        except Exception as exc:
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    # -- delegation -----------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Delegate to the real runnable."""
        with self._translating():
            return self.get().invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Delegate to the real runnable."""
        with self._translating():
            inner = await self.aget()
            return await inner.ainvoke(input, config, **kwargs)

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Delegate to the real runnable."""
        with self._translating():
            return self.get().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Delegate to the real runnable (``batch_configs`` may adjust the per-input configs)."""
        if self._batch_configs is not None and isinstance(config, list):
            config = self._batch_configs(config)
        with self._translating():
            inner = await self.aget()
            return await inner.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Delegate to the real runnable."""
        with self._translating():
            yield from self.get().stream(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Delegate to the real runnable."""
        with self._translating():
            inner = await self.aget()
            async for chunk in inner.astream(input, config, **kwargs):
                yield chunk

    def astream_events(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Delegate to the real runnable (v1/v2 event streams)."""
        return self._astream_events(input, config, **kwargs)

    async def _astream_events(
        self, input: Any, config: RunnableConfig | None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        with self._translating():
            inner = await self.aget()
            async for event in inner.astream_events(input, config, **kwargs):
                yield event

    def __repr__(self) -> str:
        state = "built" if self.built else "lazy"
        return f"ServedRunnable({self.name!r}, {state})"
