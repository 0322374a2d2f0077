"""Market data: candles (pure types and CSV loading) and the exchange market-data port."""
