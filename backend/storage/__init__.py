"""PostgreSQL access through asyncpg, and the numbered SQL migrations applied on start."""
