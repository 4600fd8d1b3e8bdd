"""Safety of a shared public demo: access code, server-issued identities, caps, signed downloads, expiry."""
