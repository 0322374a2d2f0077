"""Exchange ports (Protocols) and adapters: python-binance against Binance, its spot testnet or the simulator."""
