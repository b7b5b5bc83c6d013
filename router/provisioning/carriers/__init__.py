"""Where a number's calls come from, pointed at the router: one class per carrier behind
``Carrier``, which the provisioning service calls on each write of a number and in each
reconcile pass. What the router changed at the carrier is kept as the number's tagged
``CarrierState`` (``core.models``) and put back on release.

Adding a carrier: a module here with its ``Carrier`` class and a ``build(context)`` that makes
it (None when the configuration leaves it out), its ``CarrierState`` member in
``core.models``, and one line in ``BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from router.provisioning.carriers import livekit, telnyx, twilio
from router.provisioning.carriers.base import Carrier, CarrierContext

# One line per carrier: its module's build (None when the configuration leaves it out).
BUILDERS: tuple[Callable[[CarrierContext], Carrier | None], ...] = (
    twilio.build,
    telnyx.build,
    livekit.build,
)


def carriers_of(context: CarrierContext) -> dict[str, Carrier]:
    """The carriers the configuration allows, by the ``source`` of the numbers they serve."""
    made = (build(context) for build in BUILDERS)
    return {carrier.source: carrier for carrier in made if carrier is not None}
