"""Inbound call router for AI voice agents."""
