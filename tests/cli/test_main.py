"""What every command shares (``cli.main``): a bad log level is a usage error, a refusal or an
unreachable router is one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import cli


async def test_a_bad_log_level_is_a_usage_error(router):
    code, _, err = await cli(router, "--log-level", "loud", "calls", "list")
    assert code == 2
    assert err.startswith("usage:")
    assert "'loud' is not a log level" in err


@pytest.mark.parametrize(
    ("env", "code", "words"),
    [
        ({"ROUTER_ADMIN_TOKEN": "wrong"}, 1,
         "(UNAUTHORIZED, HTTP 401) (the token from ROUTER_ADMIN_TOKEN was refused"),
        ({"ROUTER_ADMIN_TOKEN": "", "--token": "wrong"}, 1,
         "(the token from --token was refused"),
        ({"ROUTER_URL": "http://127.0.0.1:9"}, 2,
         "cannot reach the router at http://127.0.0.1:9 (ClientConnectorError; the URL from "
         "ROUTER_URL)"),
    ],
)  # fmt: skip
async def test_refusals_are_one_line_and_say_what_was_used(router, env, code, words):
    flags = [f"--token={env.pop('--token')}"] if "--token" in env else []
    for command in (("calls", "list"), ("agents", "list"), ("numbers", "list")):
        got, out, err = await cli(router, *command, *flags, **env)
        assert (got, out) == (code, "")  # no table header before the refusal
        assert words in err
        assert len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_the_cli_starts_without_the_server_s_weight():
    """An operator command imports neither Redis's client, livekit-api, protobuf nor structlog
    until it needs them (each ``python -m router …`` pays for what it loads: ~2 s before)."""
    heavy = ["redis", "livekit", "google", "structlog", "uvloop"]
    code = (
        "import sys, router.cli.main; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_the_program_s_name_and_the_example_agent(tmp_path):
    """``--version``; the installed script's usage says its own name; the example agent
    comes from the package (so an install from the wheel has it too)."""
    from importlib import metadata
    from pathlib import Path

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, capture_output=True, text=True, check=False)

    version = run(sys.executable, "-m", "router", "--version")
    assert version.stdout.strip() == f"call-router {metadata.version('call-router')}"
    script = Path(sys.executable).parent / "call-router"
    assert run(str(script), "--help").stdout.startswith("usage: call-router ")
    example = run(sys.executable, "-m", "router", "agents", "example")
    assert example.returncode == 0
    assert "AgentServer" in example.stdout
    assert example.stdout.startswith('"""A minimal voice agent')
    target = tmp_path / "agent.py"
    wrote = run(sys.executable, "-m", "router", "agents", "example", "--write", str(target))
    assert (wrote.returncode, target.read_text()) == (0, example.stdout)
    again = run(sys.executable, "-m", "router", "agents", "example", "--write", str(target))
    assert (again.returncode, "exists: not overwritten" in again.stderr) == (1, True)


def test_every_command_and_option_says_what_it_is_for():
    """``--help`` of every command explains each command and option (none left bare), every
    command that reads over the API answers ``--json`` too, and ``--log-level`` is taken after
    any command."""
    import argparse

    from router.cli.main import parser

    bare: list[str] = []
    without_json: list[str] = []
    # Not reads: they print nothing but a line of progress, or run the router itself.
    no_answer = {"serve", "web", "worker", "numbers import", "agents example", "bench",
                 "maintenance reindex", "maintenance dead-letters-replay"}  # fmt: skip

    def walk(node: argparse.ArgumentParser, path: str) -> None:
        node.format_help()  # renders (a stray % in a help text would raise here)
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {c.dest: c.help for c in action._choices_actions}
                seen: set[int] = set()
                for name, sub in action.choices.items():
                    if id(sub) in seen:  # an alias (dead-letters for dlq): described as dlq
                        continue
                    seen.add(id(sub))
                    if not described.get(name):
                        bare.append(f"{path} {name}")
                    walk(sub, f"{path} {name}")
            elif action.help is None:
                bare.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        leaf = not any(isinstance(a, argparse._SubParsersAction) for a in node._actions)
        options = {o for a in node._actions for o in a.option_strings}
        if leaf and "--json" not in options and path.removeprefix("router ") not in no_answer:
            without_json.append(path)

    walk(parser(), "router")
    assert bare == []
    assert without_json == []
    args = parser().parse_args(["serve", "--log-level", "debug"])
    assert args.log_level == "DEBUG"
