"""The vocabulary every stage shares: small domain types, ids, the clock, heap trimming."""
