"""Letting the pre-call webhook's answer steer a dispatch decision.

The answer may reject the call, name another (existing) agent — the metadata is then hydrated
from that agent — and add ``metadata`` (merged over the session metadata, ``template.merge``)
and ``dynamic_variables`` (merged under ``dynamicVariables``). A failed webhook falls back to
the static decision, or, when the agent sets ``reuseLastAnswerS``, to the last good answer for
this number within that many seconds. The outcome records which.
"""

from __future__ import annotations

import aiohttp
import msgspec
from redis.asyncio import Redis

from router import logs
from router.core import template
from router.core.matching import Rows
from router.core.models import Agent, PhoneNumber, PreCallWebhook
from router.core.routing import CallFacts, Decision, PreCallOutcome, session_metadata
from router.outbound import precall
from router.outbound.precall import PreCallAnswer, PreCallRequest
from router.store import keys

log = logs.get(__name__)
_encode = msgspec.json.Encoder().encode
_answer = msgspec.json.Decoder(PreCallAnswer)


def _request(
    facts: CallFacts, row: PhoneNumber, agent: Agent, decision: Decision
) -> PreCallRequest:
    return PreCallRequest(
        call_id=facts.call_id,
        provider=facts.provider,
        caller_number=facts.caller_number,
        dialed_number=facts.dialed_number,
        forwarded_from_number=facts.forwarding.number,
        forwarded_from_withheld=facts.forwarding.withheld,
        forwarding_chain=[msgspec.to_builtins(h) for h in facts.forwarding.chain],
        phone_number_id=row.id,
        agent_id=agent.id,
        label=row.label,
        metadata=decision.metadata or {},
    )


async def with_pre_call(
    session: aiohttp.ClientSession,
    redis: Redis,
    rows: Rows,
    facts: CallFacts,
    row: PhoneNumber,
    agent: Agent,
    hook: PreCallWebhook,
    decision: Decision,
    *,
    received_ms: int,
    allow_private: bool,
) -> tuple[Decision, PreCallOutcome]:
    """Ask the agent's pre-call webhook (``session``: the guarded customer-webhook session),
    keep or reuse its last good answer (``redis``), re-hydrate another agent (``rows``)."""
    answer, outcome = await precall.ask(
        session,
        hook,
        _request(facts, row, agent, decision),
        received_at_ms=received_ms,
        allow_private=allow_private,
    )
    reuse_key = keys.precall_last_answer(row.id, agent.id)
    if answer is not None and hook.reuse_last_answer_s:
        await redis.set(reuse_key, _encode(answer), ex=hook.reuse_last_answer_s)
    if answer is None and hook.reuse_last_answer_s:
        last = await redis.get(reuse_key)
        if last is not None:
            answer = _answer.decode(last)
            outcome = msgspec.structs.replace(outcome, fallback="last_answer")
    if answer is None:
        log.warning(
            "pre_call_fallback", status=outcome.status, ms=outcome.ms, detail=outcome.detail
        )
        return decision, msgspec.structs.replace(outcome, fallback="static")
    return await _apply(rows, facts, row, agent, decision, answer, outcome)


async def _apply(
    rows: Rows,
    facts: CallFacts,
    row: PhoneNumber,
    agent: Agent,
    decision: Decision,
    answer: PreCallAnswer,
    outcome: PreCallOutcome,
) -> tuple[Decision, PreCallOutcome]:
    if answer.action == "reject":
        rejected = msgspec.structs.replace(
            decision,
            action="reject",
            agent_name=None,
            reject_reason="pre_call_rejected",
            detail=answer.reason or "rejected by the pre-call webhook",
        )
        return rejected, outcome
    chosen = agent
    if answer.agent_id and answer.agent_id != agent.id:
        found = await rows.find_agent(answer.agent_id)
        if found is not None and found.organization_id != row.organization_id:
            found = None  # a pre-call answer never reaches into another organization
        if found is None:
            detail = f"answer names unknown agent {answer.agent_id}"
            return decision, msgspec.structs.replace(
                outcome, status="unknown_agent", detail=detail, fallback="static"
            )
        chosen = found
    metadata = decision.metadata or {}
    if chosen is not agent:
        metadata = session_metadata(facts, row, chosen)
    extra = dict(answer.metadata or {})
    if answer.dynamic_variables:
        extra = template.merge(extra, {"dynamicVariables": answer.dynamic_variables})
    steered = msgspec.structs.replace(
        decision,
        agent_id=chosen.id,
        agent_name=chosen.livekit_agent_name,
        metadata=template.merge(metadata, extra),
    )
    return steered, outcome
