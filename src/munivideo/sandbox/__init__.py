"""The sandbox ERP: a real server on loopback implementing the reference SOAP and REST contracts.

See ``docs/sandbox.md``. Quick start::

    from munivideo.sandbox import Sandbox

    with Sandbox(dialect="both", seed="tax-office") as sb:
        print(sb.wsdl_url, sb.rest_url)
"""

from __future__ import annotations

from munivideo.sandbox.behaviour import CAPABILITY_SETS, Behaviour
from munivideo.sandbox.context import CLIENT_ID, CLIENT_SECRET
from munivideo.sandbox.faults import FaultPlan, parse_rule
from munivideo.sandbox.seeds import SEEDS, bulk_seed
from munivideo.sandbox.server import Sandbox

__all__ = [
    "CAPABILITY_SETS",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SEEDS",
    "Behaviour",
    "FaultPlan",
    "Sandbox",
    "bulk_seed",
    "parse_rule",
]
