"""The webhooks that bring calls in (LiveKit, Twilio, Telnyx), their signatures and the
carriers' answers. Runs in the web process."""
