"""Message bus: topology, publisher, consumers (aio-pika / RabbitMQ quorum queues) and an in-memory fake."""
