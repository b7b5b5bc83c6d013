"""Provisioning: LiveKit's inbound trunks and dispatch rules and each carrier's numbers kept
in line with the registry — on each write of a number (``service``), and in a reconcile pass
(``reconcile``) run on request or in the background (``loop``)."""
