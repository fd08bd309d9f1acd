"""End-to-end tests: PostgreSQL + Meltano + target-shopimind + the sandbox."""
