"""Shared libraries of binance-tool: pure domain code, event models and adapters."""
