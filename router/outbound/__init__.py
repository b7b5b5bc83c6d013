"""What the router calls: LiveKit (Twirp pool, tokens, dispatch), Telnyx Call Control,
customer webhooks (pre-call, signing, the SSRF guard)."""
