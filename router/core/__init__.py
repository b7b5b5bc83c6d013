"""The pure core: events, numbers, SIP headers, forwarding, templates, the routing
decision, call records. No I/O."""
