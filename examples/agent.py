"""A minimal voice agent for the calls the router dispatches (LiveKit Agents, Python).

The router dispatches an agent by name (the agent's ``livekitAgentName``) into the call's room
with JSON metadata: the envelope described by the router's ``/schemas/dispatch-metadata.json``
(caller, dialed and forwarded-from numbers, the forwarding chain, the linked agent with its
prompt) with the number's ``dispatchMetadataTemplate`` merged on top. This worker registers
under that name, reads the metadata and greets the caller knowing who called, which number
they dialed and who forwarded the call.

Run it beside a LiveKit server (or LiveKit Cloud) the router dispatches to::

    pip install "livekit-agents>=1.8"
    export LIVEKIT_URL=wss://… LIVEKIT_API_KEY=… LIVEKIT_API_SECRET=…
    AGENT_NAME=support-agent python examples/agent.py dev

The models below are LiveKit Inference names (LiveKit Cloud); any plugin's STT/LLM/TTS works.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli

AGENT_NAME = os.environ.get("AGENT_NAME", "support-agent")  # the agent's livekitAgentName
DEFAULT_PROMPT = "You are a friendly phone assistant. Keep answers short."

server = AgentServer()


@dataclass(frozen=True)
class Call:
    """What the agent knows about the call, from the router's dispatch metadata."""

    prompt: str
    caller: str | None
    dialed: str | None
    forwarded_from: str | None
    forwarded_withheld: bool
    extra: dict[str, Any]  # the number's template keys (and a pre-call answer's), as rendered

    @classmethod
    def from_metadata(cls, metadata: str) -> Call:
        meta: dict[str, Any] = json.loads(metadata or "{}")
        agent = meta.get("agent") or {}
        envelope = {
            "callerNumber", "dialedNumber", "forwardedFromNumber", "forwardedFromWithheld",
            "forwardingChain", "callId", "provider", "phoneNumberId", "agentId", "label",
            "sip", "agent", "prompt",
        }  # fmt: skip
        return cls(
            # A template may set its own "prompt"; else the linked agent's.
            prompt=meta.get("prompt") or agent.get("prompt") or DEFAULT_PROMPT,
            caller=meta.get("callerNumber"),
            dialed=meta.get("dialedNumber"),
            forwarded_from=meta.get("forwardedFromNumber"),
            forwarded_withheld=bool(meta.get("forwardedFromWithheld")),
            extra={k: v for k, v in meta.items() if k not in envelope},
        )

    def instructions(self) -> str:
        lines = [self.prompt]
        lines.append(f"The caller's number is {self.caller or 'not known (withheld)'}.")
        if self.dialed:
            lines.append(f"They dialed {self.dialed}.")
        if self.forwarded_from:
            lines.append(
                f"The call was forwarded to you from {self.forwarded_from}: the caller was "
                "trying to reach that line; say so when you greet them."
            )
        elif self.forwarded_withheld:
            lines.append("The call was forwarded from a number that is withheld.")
        if self.extra:
            lines.append(f"Context for this line: {json.dumps(self.extra, ensure_ascii=False)}")
        return "\n".join(lines)


@server.rtc_session(agent_name=AGENT_NAME)  # explicit dispatch: only the router sends calls
async def entrypoint(ctx: JobContext) -> None:
    call = Call.from_metadata(ctx.job.metadata)
    session = AgentSession(stt="deepgram/nova-3", llm="openai/gpt-4.1-mini", tts="cartesia/sonic-2")
    await session.start(room=ctx.room, agent=Agent(instructions=call.instructions()))
    await session.generate_reply(instructions="Greet the caller and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
