"""Pure delivery rules, free of Flask and of any database: backoff, circuit breaker, leases, pacing,
suppression. Each takes what varies (clock readings, random source, settings) and returns values."""
