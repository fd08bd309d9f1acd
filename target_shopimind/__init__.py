"""target-shopimind: a Singer target that bulk-upserts a shop's data into ShopiMind."""
