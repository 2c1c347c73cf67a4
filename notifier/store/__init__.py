"""The store stage: tables, the engine and session factory, keyword-only queries."""
