"""The stand-ins as servers of their own, to try the router against them by hand (README,
"Buying a number"): LiveKit's server API (Twirp: agent dispatch, SIP, PhoneNumberService) and
Twilio's REST API (the platform's account, with numbers in its inventory), each on a port of
loopback; the environment that points the router at them is printed.

    python -m tests.standins [--livekit-port 7880] [--twilio-port 7881] [--router-url URL]
    python -m tests.standins --print-env   # the variables only (for export $(…))
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from tests.carrier_helpers import TwilioRestStandIn
from tests.twirp_standin import TwirpStandIn

KEY, SECRET = "APIstandin", "standin-secret-" + "s" * 32
TWILIO_SID, TWILIO_TOKEN = "AC" + "5" * 32, "standin-twilio-token-0123456789"
LIVEKIT_STOCK = (("+14155550101", "San Francisco", "CA"), ("+14155550102", "Oakland", "CA"))
TWILIO_STOCK = (("+12015550111", "Newark", "NJ"), ("+12015550112", "Hoboken", "NJ"))


def exports(livekit_port: int, twilio_port: int, router_url: str) -> dict[str, str]:
    """The router's variables that point it at the stand-ins."""
    return {
        "LIVEKIT_URL": f"http://127.0.0.1:{livekit_port}", "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": SECRET, "ROUTER_MANAGED_PROVIDERS": "livekit,twilio",
        "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}/2010-04-01",
        "ROUTER_PUBLIC_URL": router_url,
    }  # fmt: skip


async def serve(livekit_port: int, twilio_port: int, router_url: str) -> None:
    livekit = TwirpStandIn(KEY, SECRET)
    for e164, city, state in LIVEKIT_STOCK:
        livekit.phone_number_service.stock(e164, city, state)
    twilio = TwilioRestStandIn(TWILIO_SID, TWILIO_TOKEN)
    for e164, city, state in TWILIO_STOCK:
        twilio.inventory.stock(e164, city, state)
    runners = []
    for app, port in ((livekit.app(), livekit_port), (twilio.app(), twilio_port)):
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    print("stand-ins listening; point the router at them with:", flush=True)
    variables = exports(livekit_port, twilio_port, router_url)
    print(f"export {' '.join(f'{k}={v}' for k, v in variables.items())}", flush=True)
    try:
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        for runner in runners:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.standins", description=__doc__)
    parser.add_argument("--livekit-port", type=int, default=7880)
    parser.add_argument("--twilio-port", type=int, default=7881)
    parser.add_argument("--router-url", default="http://127.0.0.1:8080")
    parser.add_argument("--print-env", action="store_true", help="print the variables, exit")
    args = parser.parse_args()
    if args.print_env:
        variables = exports(args.livekit_port, args.twilio_port, args.router_url)
        print(" ".join(f"{k}={v}" for k, v in variables.items()))
        return
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.livekit_port, args.twilio_port, args.router_url))


if __name__ == "__main__":
    main()
