"""performance: position-performance reports and per-edge realised results (issue 5, deliverable 4)."""
