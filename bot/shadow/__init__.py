"""Shadow runs: a candidate model or prompt answers a sample of live triages in the background, never shown."""
