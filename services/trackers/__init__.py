"""trackers: the order-tracker and the position-tracker in one process (issue 5, deliverable 2)."""
