"""Search: vector and keyword rankings fused, identifier boosts, one result per file, answers."""
