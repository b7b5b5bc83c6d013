"""The worker process: the stream consumer, the entry switch, the direct and bridged call
flows, the pre-call step, lifecycle deliveries."""
