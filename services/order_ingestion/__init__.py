"""order-ingestion: the account's user data stream onto the bus, with REST back-fills after gaps and restarts."""
