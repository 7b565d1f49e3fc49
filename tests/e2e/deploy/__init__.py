"""A production-shaped Mailroom deployment on loopback, started and stopped by the e2e tests."""
