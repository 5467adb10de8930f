"""The soak (`make soak`; CI does not run it): operators load gunicorn through HTTP while a
worker is killed and the soak's own PostgreSQL is restarted, then a checker proves that
nothing answered "saved" was lost and that the ledger still adds up."""
