"""``newsrelay worker`` and what the scheduler sends it: one Dramatiq message per source run,
over RabbitMQ (see docs/ARCHITECTURE.md, "The cluster")."""
