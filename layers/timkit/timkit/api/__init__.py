"""What the HTTP API functions (admin, merger) share: errors to answers in one table (errors), the
Idempotency-Key middleware (idempotency), the request pre-step and path parameters (http), and the
admin API's OpenAPI declarations (openapi). Their handlers keep only routing and their error table."""
