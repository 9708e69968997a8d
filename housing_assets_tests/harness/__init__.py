"""What the tests share: child-process environments, misbehaving HTTP sources, a real
dagster-webserver started and waited for, a throwaway PostgreSQL server, step errors, and
empty MLflow stores migrated once."""
