"""Use cases: load, ask the domain, persist, act. Each takes a session and an organization."""
