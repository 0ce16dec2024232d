"""Boxoffice's modules. Each owns a schema; others may import only its `public` package."""
