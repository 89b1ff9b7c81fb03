"""API keys and the request guard: who may call what, from where.

    backend.core.scopes.Scope   the six scopes and what each one grants (no dependencies: engines import it)
    keys                        hashed keys in PostgreSQL: create, look up, revoke, rotate the admin key
    guard.Guard                 pure ASGI middleware: Host, Origin, content type, NUL in the URL
    guard.Authenticator         X-API-Key (or the internal token) -> Principal, scope check, rate limit
"""
