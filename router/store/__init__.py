"""Redis: key names, the client and embedded server, batching, rows and their cache, call
records, leases, the dead-letter stream, the event-stream enqueue."""
