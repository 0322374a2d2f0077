"""State stores (Redis adapters with in-memory fakes behind the same Protocols)."""
